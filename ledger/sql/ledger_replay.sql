-- A replay of an idempotency key returns the first result; a different request under
-- the same key is refused (invariant 5).
CREATE OR REPLACE FUNCTION ledger_replay(entry_realm text, key text, request_hash bytea) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    first_id   bigint;
    first_hash bytea;
BEGIN
    SELECT e.id, e.request_hash INTO first_id, first_hash
      FROM entries e WHERE e.realm = entry_realm AND e.idempotency_key = key;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF first_hash IS DISTINCT FROM request_hash THEN
        PERFORM pb_raise('idempotency_key_reused', jsonb_build_object('entry_id', first_id));
    END IF;
    RETURN ledger_entry_json(entry_realm, first_id) || '{"replayed": true}';
END $$;
