-- The key registry: the public half of every key that signs checkpoints, so that which
-- key may seal, and which keys verify, is the database's word and not a directory's.
--
-- A key's id is derived from its public key (`ledger.keys.registry_key_id`: 2^47 plus
-- the first 47 bits of SHA-256 of the 32 raw bytes), so two key directories can never
-- hand out the same id. Checkpoints sealed before this revision carry the small per-
-- directory id of their key: `legacy_kid` keeps it.
--
-- Only ledger keys are registered. Voucher keys stay in their directory: a voucher's
-- 2-byte key id field cannot hold a global id without changing the printed layout.
--
-- Rows are never changed: retiring a key is a row in `signing_key_retirements`.
-- `kind` is `signer` (a key a process seals with; at most one current per purpose and
-- scope) or `acknowledged` (a stray key an admin registered, with a reason, so that the
-- checkpoints it already signed verify; it never seals).

CREATE TABLE signing_keys (
    key_id        bigint PRIMARY KEY CHECK (key_id >= 140737488355328 AND key_id < 281474976710656),
    purpose       text NOT NULL CHECK (purpose IN ('ledger')),
    -- NULL: the whole deployment; a realm code: that realm only (preferred when present)
    realm         text REFERENCES realms (code),
    public_key    bytea NOT NULL UNIQUE CHECK (octet_length(public_key) = 32),
    legacy_kid    integer CHECK (legacy_kid BETWEEN 1 AND 65535),
    kind          text NOT NULL CHECK (kind IN ('signer', 'acknowledged')),
    reason        text CHECK (length(reason) BETWEEN 1 AND 500),
    registered_by text NOT NULL CHECK (length(registered_by) BETWEEN 1 AND 200),
    created_at    timestamptz NOT NULL DEFAULT now(),
    valid_from    timestamptz NOT NULL,
    CONSTRAINT signing_keys_acknowledged_reason CHECK ((kind = 'acknowledged') = (reason IS NOT NULL))
);

CREATE TABLE signing_key_retirements (
    key_id      bigint PRIMARY KEY REFERENCES signing_keys (key_id),
    retired_at  timestamptz NOT NULL,
    retired_by  text NOT NULL CHECK (length(retired_by) BETWEEN 1 AND 200)
);

SELECT pb_append_only('signing_keys');
SELECT pb_append_only('signing_key_retirements');

-- Signers not retired: at most one per purpose and scope (the trigger below).
CREATE VIEW signing_keys_current AS
SELECT k.* FROM signing_keys k
 WHERE k.kind = 'signer'
   AND NOT EXISTS (SELECT 1 FROM signing_key_retirements r WHERE r.key_id = k.key_id);

-- The key that seals a realm's checkpoints now: its realm's own current signer, else the
-- deployment's; NULL when none is registered.
CREATE FUNCTION signing_key_current(key_purpose text, key_realm text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT k.key_id FROM signing_keys_current k
     WHERE k.purpose = key_purpose AND (k.realm = key_realm OR k.realm IS NULL)
     ORDER BY k.realm IS NULL, k.valid_from DESC
     LIMIT 1
$$;

-- At most one current signer per purpose and scope: a new signer waits for any other
-- registration of its scope (an advisory lock until commit) and is refused while
-- another is current (retire it first, in the same transaction).
CREATE FUNCTION signing_keys_check_signer() RETURNS trigger
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
CREATE TRIGGER signing_keys_signer BEFORE INSERT ON signing_keys
    FOR EACH ROW EXECUTE FUNCTION signing_keys_check_signer();

-- A checkpoint is sealed only with its realm's current ledger key (checkpoints sealed
-- before this revision keep their legacy ids: the trigger sees only new rows).
ALTER TABLE checkpoints ALTER COLUMN key_id TYPE bigint;

CREATE FUNCTION checkpoints_check_signer() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.key_id IS DISTINCT FROM signing_key_current('ledger', NEW.realm) THEN
        PERFORM pb_raise('sealing_key_not_current',
                         jsonb_build_object('realm', NEW.realm, 'key_id', NEW.key_id));
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER checkpoints_signer BEFORE INSERT ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION checkpoints_check_signer();

GRANT SELECT, INSERT ON signing_keys, signing_key_retirements TO pointsbank_app;
GRANT SELECT ON signing_keys_current TO pointsbank_app;

-- Idempotency of refusals (issue 11 item 7; here because this branch has one revision):
-- a request that changed nothing does not take its Idempotency-Key, so a retry under the
-- same key after the cause is fixed (a budget funded, say) is evaluated afresh. A bulk
-- attendance request that awarded nothing (every record refused or already awarded) is
-- not stored; one that awarded anything keeps its key and replays its first results.
CREATE OR REPLACE FUNCTION earning_record_attendance(request jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    request_realm text := request->>'realm';
    key           text := request->>'idempotency_key';
    first         attendance_requests;
    awarded       jsonb := '[]';
    results       jsonb;
    outcome       jsonb;
BEGIN
    SELECT * INTO first FROM attendance_requests r
     WHERE r.realm = request_realm AND r.idempotency_key = key;
    IF FOUND THEN
        RETURN jsonb_build_object('replay', true, 'request_hash', encode(first.request_hash, 'hex'),
                                  'activity_id', first.activity_id, 'outcome', first.results);
    END IF;
    IF jsonb_array_length(request->'records') > 0 THEN
        awarded := earning_award_chunk(jsonb_build_object(
            'realm', request_realm, 'created_by', request->>'created_by', 'records', request->'records'));
    END IF;
    SELECT coalesce(jsonb_agg(result ORDER BY (result->>'n')::bigint), '[]') INTO results
      FROM (SELECT value AS result FROM jsonb_array_elements(awarded)
            UNION ALL SELECT value FROM jsonb_array_elements(request->'refused')) merged;
    SELECT jsonb_build_object(
               'activity_id', (request->>'activity_id')::bigint, 'results', results,
               'awarded', count(*) FILTER (WHERE NOT r ? 'error'),
               'refused', count(*) FILTER (WHERE r ? 'error'),
               'points', coalesce(sum((r->>'points')::bigint) FILTER (WHERE NOT r ? 'error'), 0))
      INTO outcome FROM jsonb_array_elements(results) r;
    IF NOT EXISTS (SELECT 1 FROM jsonb_array_elements(awarded) a
                    WHERE NOT a ? 'error' AND NOT coalesce((a->>'replayed')::boolean, false)) THEN
        RETURN jsonb_build_object('replay', false, 'outcome', outcome);  -- changed nothing: key stays free
    END IF;
    INSERT INTO attendance_requests (realm, idempotency_key, request_hash, activity_id, results, created_by)
    VALUES (request_realm, key, decode(request->>'request_hash', 'hex'), (request->>'activity_id')::bigint,
            outcome, request->>'created_by')
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN  -- a concurrent request under the same key stored its outcome first
        SELECT * INTO first FROM attendance_requests r
         WHERE r.realm = request_realm AND r.idempotency_key = key;
        RETURN jsonb_build_object('replay', true, 'request_hash', encode(first.request_hash, 'hex'),
                                  'activity_id', first.activity_id, 'outcome', first.results);
    END IF;
    RETURN jsonb_build_object('replay', false, 'outcome', outcome);
END $$;
