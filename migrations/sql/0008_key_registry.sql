-- Since revision 0011 the functions and triggers this revision once defined live in one
-- file each under their package (`<package>/sql/`, applied by migrations/objects.py);
-- this file keeps its tables, indexes, constraints, grants and data.

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

-- A checkpoint is sealed only with its realm's current ledger key (checkpoints sealed
-- before this revision keep their legacy ids: the trigger sees only new rows).
ALTER TABLE checkpoints ALTER COLUMN key_id TYPE bigint;

GRANT SELECT, INSERT ON signing_keys, signing_key_retirements TO pointsbank_app;
GRANT SELECT ON signing_keys_current TO pointsbank_app;

