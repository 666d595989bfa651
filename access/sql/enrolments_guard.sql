-- The database refuses a second claim, a claim of a locked or expired code, and any
-- change to what a code is for.
CREATE OR REPLACE FUNCTION enrolments_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.claimed_at IS NOT NULL AND OLD.claimed_at IS NULL THEN
        IF OLD.failures >= 5 THEN
            PERFORM pb_raise('enrolment_locked', jsonb_build_object('enrolment_id', OLD.id));
        END IF;
        IF NEW.claimed_at > OLD.expires_at THEN
            PERFORM pb_raise('enrolment_expired', jsonb_build_object('enrolment_id', OLD.id));
        END IF;
    ELSIF OLD.claimed_at IS NOT NULL AND (NEW.claimed_at IS DISTINCT FROM OLD.claimed_at
                                         OR NEW.token_id IS DISTINCT FROM OLD.token_id) THEN
        PERFORM pb_raise('enrolment_claimed', jsonb_build_object('enrolment_id', OLD.id));
    END IF;
    IF NEW.failures < OLD.failures THEN
        PERFORM pb_raise('enrolment_locked', jsonb_build_object('enrolment_id', OLD.id));
    END IF;
    RETURN NEW;
END $$;
