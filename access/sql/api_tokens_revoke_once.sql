-- A revocation is final: revoked_at is set once and never cleared or moved.
CREATE OR REPLACE FUNCTION api_tokens_revoke_once() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at THEN
        PERFORM pb_raise('token_revoked', jsonb_build_object('token_id', OLD.id));
    END IF;
    RETURN NEW;
END $$;
