-- Check-ins: in once, out once (after in), nothing after the activity is closed.
CREATE OR REPLACE FUNCTION activity_checkins_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM activities a WHERE a.realm = NEW.realm AND a.id = NEW.activity_id
                                            AND a.status <> 'published') THEN
        PERFORM pb_raise('activity_not_open', jsonb_build_object('activity_id', NEW.activity_id));
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF OLD.checked_out_at IS NOT NULL THEN
            PERFORM pb_raise('already_checked_out', jsonb_build_object('resident_id', OLD.resident_id));
        END IF;
        IF NEW.checked_in_at IS DISTINCT FROM OLD.checked_in_at THEN
            PERFORM pb_raise('already_checked_in', jsonb_build_object('resident_id', OLD.resident_id));
        END IF;
    END IF;
    RETURN NEW;
END $$;
