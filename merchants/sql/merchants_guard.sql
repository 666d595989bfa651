-- Only the status moves, and a closed merchant stays closed.
CREATE OR REPLACE FUNCTION merchants_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pb_raise('append_only', jsonb_build_object('table', 'merchants', 'operation', TG_OP));
    END IF;
    IF (NEW.realm, NEW.id, NEW.kind, NEW.created_at) IS DISTINCT FROM (OLD.realm, OLD.id, OLD.kind, OLD.created_at) THEN
        PERFORM pb_raise('merchant_immutable', jsonb_build_object('merchant_id', OLD.id));
    END IF;
    IF OLD.status = 'closed' AND NEW.status <> 'closed' THEN
        PERFORM pb_raise('merchant_closed', jsonb_build_object('merchant_id', OLD.id));
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
