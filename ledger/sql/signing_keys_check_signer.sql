-- At most one current signer per purpose and scope: a new signer waits for any other
-- registration of its scope (an advisory lock until commit) and is refused while
-- another is current (retire it first, in the same transaction).
CREATE OR REPLACE FUNCTION signing_keys_check_signer() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind <> 'signer' THEN
        RETURN NEW;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('pb_signing_key:' || NEW.purpose || ':'
                                                   || coalesce(NEW.realm, '*'), 0));
    IF EXISTS (SELECT 1 FROM signing_keys_current k
                WHERE k.purpose = NEW.purpose AND k.realm IS NOT DISTINCT FROM NEW.realm) THEN
        PERFORM pb_raise('signing_key_current_exists',
                         jsonb_build_object('purpose', NEW.purpose, 'realm', NEW.realm));
    END IF;
    RETURN NEW;
END $$;
