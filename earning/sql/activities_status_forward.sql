-- Status moves forward only: draft -> published -> closed; draft or published -> cancelled.
CREATE OR REPLACE FUNCTION activities_status_forward() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
           (OLD.status = 'draft' AND NEW.status IN ('published', 'cancelled'))
        OR (OLD.status = 'published' AND NEW.status IN ('cancelled', 'closed'))) THEN
        PERFORM pb_raise('activity_status_invalid', jsonb_build_object(
            'activity_id', OLD.id, 'from', OLD.status, 'to', NEW.status));
    END IF;
    IF OLD.status = 'closed' AND NEW.close_summary IS DISTINCT FROM OLD.close_summary THEN
        PERFORM pb_raise('activity_closed', jsonb_build_object('activity_id', OLD.id));
    END IF;
    RETURN NEW;
END $$;
