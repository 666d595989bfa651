-- An event is never deleted or rewritten; only its dispatch time is set, once.
CREATE OR REPLACE FUNCTION notify_events_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pb_raise('append_only', jsonb_build_object('table', 'events', 'operation', TG_OP));
    END IF;
    IF OLD.dispatched_at IS NOT NULL
       OR (NEW.realm, NEW.id, NEW.type, NEW.subject_id, NEW.resident_id, NEW.merchant_id, NEW.payload,
           NEW.dedup_key, NEW.created_at)
          IS DISTINCT FROM (OLD.realm, OLD.id, OLD.type, OLD.subject_id, OLD.resident_id, OLD.merchant_id,
                            OLD.payload, OLD.dedup_key, OLD.created_at) THEN
        PERFORM pb_raise('append_only', jsonb_build_object('table', 'events', 'operation', TG_OP));
    END IF;
    RETURN NEW;
END $$;
