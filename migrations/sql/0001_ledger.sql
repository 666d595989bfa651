-- Since revision 0011 the functions and triggers this revision once defined live in one
-- file each under their package (`<package>/sql/`, applied by migrations/objects.py);
-- this file keeps its tables, indexes, constraints, grants and data.

-- Ledger foundation. Every invariant of DESIGN.md that the book itself can hold is held
-- here, whatever client writes: the Python service checks the same rules before it
-- writes, and these are the backstop.
--
-- Citus-ready: every table of per-realm data carries `realm`, and every primary and
-- unique key of such a table includes it. No entry spans realms.

-- The role the service runs as (it connects and `SET ROLE`s to it): it may read, append
-- entries and postings, and nothing else. Roles are cluster-wide, so several databases
-- on one server (tests) share it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pointsbank_app') THEN
        CREATE ROLE pointsbank_app NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- a migration of another database on this server created it meanwhile
END $$;

DO $$
BEGIN
    EXECUTE format('GRANT pointsbank_app TO %I', current_user);
EXCEPTION WHEN OTHERS THEN
    NULL;  -- a superuser may SET ROLE to it anyway; others need the grant from an admin
END $$;

CREATE TABLE realms (
    code        text PRIMARY KEY CHECK (code ~ '^[0-9]{6}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    timezone    text NOT NULL DEFAULT 'Asia/Shanghai',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE assets (
    code text PRIMARY KEY
);
INSERT INTO assets (code) VALUES ('civic'), ('agri');

CREATE TABLE accounts (
    realm          text NOT NULL REFERENCES realms (code),
    id             bigint GENERATED ALWAYS AS IDENTITY,
    kind           text NOT NULL CHECK (kind IN ('resident', 'budget', 'hold', 'merchant',
                                                 'settled', 'clearing', 'funding')),
    asset          text NOT NULL REFERENCES assets (code),
    -- lowest allowed balance; NULL only for funding and clearing accounts (no floor)
    floor          bigint,
    balance        bigint NOT NULL DEFAULT 0,
    posting_count  bigint NOT NULL DEFAULT 0,
    resident_id    bigint,
    merchant_id    bigint,
    counterpart_realm text REFERENCES realms (code),
    label          text CHECK (length(label) <= 200),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, id),
    CONSTRAINT accounts_floor CHECK (floor IS NULL OR balance >= floor),
    CONSTRAINT accounts_floor_kind CHECK (
        CASE WHEN kind IN ('funding', 'clearing') THEN floor IS NULL OR floor <= 0
             ELSE floor = 0 END),
    CONSTRAINT accounts_owner CHECK (
        (resident_id IS NOT NULL) = (kind = 'resident')
        AND (merchant_id IS NOT NULL) = (kind = 'merchant')
        AND (counterpart_realm IS NOT NULL) = (kind = 'clearing')),
    CONSTRAINT accounts_posting_count CHECK (posting_count >= 0)
) WITH (fillfactor = 50);  -- room on each page so balance updates stay HOT
CREATE INDEX accounts_id ON accounts (id);
-- one system account of each kind per realm and asset
CREATE UNIQUE INDEX accounts_system_unique ON accounts (realm, kind, asset)
    WHERE kind IN ('funding', 'budget', 'hold', 'settled');
CREATE UNIQUE INDEX accounts_resident_unique ON accounts (realm, resident_id, asset)
    WHERE resident_id IS NOT NULL;
CREATE UNIQUE INDEX accounts_merchant_unique ON accounts (realm, merchant_id, asset)
    WHERE merchant_id IS NOT NULL;
CREATE UNIQUE INDEX accounts_clearing_unique ON accounts (realm, counterpart_realm, asset)
    WHERE counterpart_realm IS NOT NULL;

-- Which account kinds an entry of each kind may debit (-1) or credit (+1). Points enter
-- circulation only as `earn` from a budget (invariant 6); reversals are checked as
-- exact mirrors instead.
CREATE TABLE entry_rules (
    entry_kind   text NOT NULL,
    account_kind text NOT NULL,
    direction    smallint NOT NULL CHECK (direction IN (-1, 1)),
    PRIMARY KEY (entry_kind, account_kind, direction)
);
INSERT INTO entry_rules (entry_kind, account_kind, direction) VALUES
    ('fund', 'funding', -1), ('fund', 'budget', 1),
    ('earn', 'budget', -1), ('earn', 'resident', 1),
    ('hold', 'resident', -1), ('hold', 'hold', 1),
    ('capture', 'hold', -1), ('capture', 'merchant', 1), ('capture', 'resident', 1),
    ('capture', 'clearing', 1),
    ('clear', 'clearing', -1), ('clear', 'merchant', 1),
    ('release', 'hold', -1), ('release', 'resident', 1),
    ('settle', 'merchant', -1), ('settle', 'settled', 1),
    ('adjustment', 'budget', -1), ('adjustment', 'budget', 1),
    ('adjustment', 'resident', -1), ('adjustment', 'resident', 1),
    ('adjustment', 'merchant', -1), ('adjustment', 'merchant', 1);

CREATE TABLE entries (
    realm             text NOT NULL REFERENCES realms (code),
    id                bigint GENERATED ALWAYS AS IDENTITY,
    kind              text NOT NULL CHECK (kind IN ('fund', 'earn', 'hold', 'capture', 'clear',
                                                    'release', 'settle', 'adjustment', 'reversal')),
    idempotency_key   text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    request_hash      bytea,
    reverses_entry_id bigint,
    reference         text CHECK (length(reference) <= 200),
    memo              text CHECK (length(memo) <= 500),
    created_by        text NOT NULL CHECK (length(created_by) <= 200),
    created_at        timestamptz NOT NULL,
    created_txid      bigint NOT NULL,
    PRIMARY KEY (realm, id),
    CONSTRAINT entries_idempotency_key UNIQUE (realm, idempotency_key),
    CONSTRAINT entries_reversed_once UNIQUE (realm, reverses_entry_id),
    FOREIGN KEY (realm, reverses_entry_id) REFERENCES entries (realm, id),
    CONSTRAINT entries_reversal_kind CHECK ((kind = 'reversal') = (reverses_entry_id IS NOT NULL)),
    CONSTRAINT entries_key_hash CHECK ((idempotency_key IS NULL) = (request_hash IS NULL))
);
CREATE INDEX entries_id ON entries (id);
CREATE INDEX entries_reference ON entries (realm, reference) WHERE reference IS NOT NULL;

CREATE TABLE postings (
    realm          text NOT NULL,
    entry_id       bigint NOT NULL,
    account_id     bigint NOT NULL,
    -- position in the account's history: 1, 2, 3, ... in the order the account's row
    -- lock was taken, so running balances chain without gaps
    account_seq    bigint NOT NULL,
    asset          text NOT NULL,
    amount         bigint NOT NULL CONSTRAINT postings_amount_nonzero CHECK (amount <> 0),
    balance_after  bigint NOT NULL,
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (realm, account_id, account_seq),
    CONSTRAINT postings_one_per_account UNIQUE (realm, entry_id, account_id),
    FOREIGN KEY (realm, entry_id) REFERENCES entries (realm, id),
    FOREIGN KEY (realm, account_id) REFERENCES accounts (realm, id)
);
CREATE INDEX postings_account_time ON postings (realm, account_id, created_at);

SELECT pb_append_only('entries');
SELECT pb_append_only('postings');

-- Bearer tokens: random, shown once, stored as SHA-256. A reference table (not per realm).
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash   bytea NOT NULL UNIQUE,
    role         text NOT NULL CHECK (role IN ('admin', 'organizer', 'merchant', 'auditor', 'resident')),
    realm        text REFERENCES realms (code),
    station_id   bigint,
    merchant_id  bigint,
    resident_id  bigint,
    label        text CHECK (length(label) <= 200),
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    CONSTRAINT api_tokens_scope CHECK (
        (role = 'admin' OR realm IS NOT NULL)
        AND (role <> 'merchant' OR merchant_id IS NOT NULL)
        AND (role <> 'resident' OR resident_id IS NOT NULL))
);

-- What the service's role may do: read, append, never rewrite.
GRANT USAGE ON SCHEMA public TO pointsbank_app;
GRANT SELECT ON realms, assets, accounts, entry_rules, entries, postings, api_tokens TO pointsbank_app;
GRANT INSERT ON realms, accounts, entries, postings, api_tokens TO pointsbank_app;
GRANT UPDATE (label) ON accounts TO pointsbank_app;
GRANT UPDATE (revoked_at) ON api_tokens TO pointsbank_app;
GRANT UPDATE (name, timezone) ON realms TO pointsbank_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO pointsbank_app;
