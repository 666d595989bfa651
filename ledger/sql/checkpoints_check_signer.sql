-- A checkpoint is sealed only with its realm's current ledger key (checkpoints sealed
-- before the key registry keep their legacy ids: the trigger sees only new rows).
CREATE OR REPLACE FUNCTION checkpoints_check_signer() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.key_id IS DISTINCT FROM signing_key_current('ledger', NEW.realm) THEN
        PERFORM pb_raise('sealing_key_not_current',
                         jsonb_build_object('realm', NEW.realm, 'key_id', NEW.key_id));
    END IF;
    RETURN NEW;
END $$;
