-- The key that seals a realm's checkpoints now: its realm's own current signer, else the
-- deployment's; NULL when none is registered.
CREATE OR REPLACE FUNCTION signing_key_current(key_purpose text, key_realm text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT k.key_id FROM signing_keys_current k
     WHERE k.purpose = key_purpose AND (k.realm = key_realm OR k.realm IS NULL)
     ORDER BY k.realm IS NULL, k.valid_from DESC
     LIMIT 1
$$;
