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

-- Domain errors: message is the stable code, detail a JSON object of context.
CREATE FUNCTION pb_raise(code text, detail jsonb DEFAULT '{}') RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = code, DETAIL = detail::text;
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

-- Entries take their time and transaction from the server, not from the client.
-- ledger_post_entry inserts the entry after locking its accounts, so an account's
-- postings are in time order as well as in account_seq order.
CREATE FUNCTION entries_stamp() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.created_at := clock_timestamp();
    NEW.created_txid := txid_current();
    RETURN NEW;
END $$;
CREATE TRIGGER entries_stamp BEFORE INSERT ON entries
    FOR EACH ROW EXECUTE FUNCTION entries_stamp();

-- A posting moves its account's cached balance in the same statement, under the
-- account's row lock: cached balance = last running balance = sum of postings
-- (invariant 4), and the floor is checked on the new balance (invariant 3). It runs as
-- the owner so that the application role needs no UPDATE right on accounts.
CREATE FUNCTION postings_apply() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    posting_entry_kind text;
    entry_txid   bigint;
    entry_time   timestamptz;
    account      record;
BEGIN
    IF NEW.amount = 0 THEN
        PERFORM pb_raise('amount_zero', jsonb_build_object('account_id', NEW.account_id));
    END IF;
    SELECT e.kind, e.created_txid, e.created_at INTO posting_entry_kind, entry_txid, entry_time
      FROM entries e WHERE e.realm = NEW.realm AND e.id = NEW.entry_id;
    IF NOT FOUND THEN
        PERFORM pb_raise('unknown_entry', jsonb_build_object('entry_id', NEW.entry_id));
    END IF;
    IF entry_txid <> txid_current() THEN
        -- an entry is closed once committed: no posting joins it later
        PERFORM pb_raise('entry_closed', jsonb_build_object('entry_id', NEW.entry_id));
    END IF;

    UPDATE accounts a
       SET balance = a.balance + NEW.amount, posting_count = a.posting_count + 1
     WHERE a.realm = NEW.realm AND a.id = NEW.account_id
       AND (a.floor IS NULL OR a.balance + NEW.amount >= a.floor)
    RETURNING a.kind, a.asset, a.balance, a.posting_count INTO account;
    IF NOT FOUND THEN
        SELECT a.kind, a.balance, a.floor INTO account
          FROM accounts a WHERE a.realm = NEW.realm AND a.id = NEW.account_id;
        IF NOT FOUND THEN
            PERFORM pb_raise('unknown_account', jsonb_build_object('account_id', NEW.account_id));
        END IF;
        PERFORM pb_raise(CASE WHEN account.kind = 'budget' THEN 'budget_exhausted'
                              ELSE 'insufficient_points' END,
                         jsonb_build_object('account_id', NEW.account_id,
                                            'balance', account.balance,
                                            'floor', account.floor,
                                            'amount', NEW.amount));
    END IF;
    IF NEW.asset IS DISTINCT FROM account.asset THEN
        PERFORM pb_raise('asset_mismatch', jsonb_build_object('account_id', NEW.account_id));
    END IF;
    IF posting_entry_kind <> 'reversal' AND NOT EXISTS (
        SELECT 1 FROM entry_rules r
         WHERE r.entry_kind = posting_entry_kind AND r.account_kind = account.kind
           AND r.direction = sign(NEW.amount)) THEN
        PERFORM pb_raise('posting_not_allowed',
                         jsonb_build_object('entry_kind', posting_entry_kind, 'account_kind', account.kind,
                                            'account_id', NEW.account_id, 'amount', NEW.amount));
    END IF;
    NEW.account_seq := account.posting_count;
    NEW.balance_after := account.balance;
    NEW.created_at := entry_time;  -- an entry's postings share its time
    RETURN NEW;
END $$;
CREATE TRIGGER postings_apply BEFORE INSERT ON postings
    FOR EACH ROW EXECUTE FUNCTION postings_apply();

-- At COMMIT, every new entry has at least two postings and balances per asset
-- (invariant 1); a reversal mirrors an entry of a reversible kind exactly.
CREATE FUNCTION entries_check_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    posting_total bigint;
    balanced      boolean;
    original_kind text;
BEGIN
    SELECT coalesce(sum(n), 0), coalesce(bool_and(total = 0), true)
      INTO posting_total, balanced
      FROM (SELECT count(*) AS n, sum(p.amount) AS total
              FROM postings p WHERE p.realm = NEW.realm AND p.entry_id = NEW.id
             GROUP BY p.asset) per_asset;
    IF posting_total < 2 THEN
        PERFORM pb_raise('entry_too_few_postings', jsonb_build_object('entry_id', NEW.id));
    END IF;
    IF NOT balanced THEN
        PERFORM pb_raise('entry_unbalanced', jsonb_build_object('entry_id', NEW.id));
    END IF;
    IF NEW.reverses_entry_id IS NOT NULL THEN
        SELECT e.kind INTO original_kind FROM entries e
         WHERE e.realm = NEW.realm AND e.id = NEW.reverses_entry_id;
        IF original_kind NOT IN ('fund', 'earn', 'adjustment') THEN
            PERFORM pb_raise('entry_not_reversible', jsonb_build_object('entry_id', NEW.reverses_entry_id));
        END IF;
        IF EXISTS (
            (SELECT account_id, -amount FROM postings
              WHERE realm = NEW.realm AND entry_id = NEW.reverses_entry_id
             EXCEPT
             SELECT account_id, amount FROM postings
              WHERE realm = NEW.realm AND entry_id = NEW.id)
            UNION ALL
            (SELECT account_id, amount FROM postings
              WHERE realm = NEW.realm AND entry_id = NEW.id
             EXCEPT
             SELECT account_id, -amount FROM postings
              WHERE realm = NEW.realm AND entry_id = NEW.reverses_entry_id)) THEN
            PERFORM pb_raise('reversal_not_mirror', jsonb_build_object('entry_id', NEW.id));
        END IF;
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER entries_balanced AFTER INSERT ON entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION entries_check_balanced();

-- Append-only: entries and postings are never updated or deleted (invariant 2).
CREATE FUNCTION pb_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pb_raise('append_only', jsonb_build_object('table', TG_TABLE_NAME, 'operation', TG_OP));
    RETURN NULL;
END $$;
-- Make a table append-only: no UPDATE, DELETE or TRUNCATE, whoever asks (only
-- disabling the triggers, as a superuser, gets past; the audit is there for that).
CREATE FUNCTION pb_append_only(target regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    name text := (SELECT c.relname FROM pg_class c WHERE c.oid = target);
BEGIN
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION pb_refuse_change()', name || '_append_only', target);
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION pb_refuse_change()', name || '_no_truncate', target);
END $$;
SELECT pb_append_only('entries');
SELECT pb_append_only('postings');

-- An account's identity never changes, and its balance moves only through a posting.
CREATE FUNCTION accounts_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pb_raise('append_only', jsonb_build_object('table', 'accounts', 'operation', TG_OP));
    END IF;
    IF (NEW.realm, NEW.id, NEW.kind, NEW.asset, NEW.created_at)
           IS DISTINCT FROM (OLD.realm, OLD.id, OLD.kind, OLD.asset, OLD.created_at)
       OR (NEW.floor, NEW.resident_id, NEW.merchant_id, NEW.counterpart_realm)
           IS DISTINCT FROM (OLD.floor, OLD.resident_id, OLD.merchant_id, OLD.counterpart_realm) THEN
        PERFORM pb_raise('account_immutable', jsonb_build_object('account_id', OLD.id));
    END IF;
    IF (NEW.balance, NEW.posting_count) IS DISTINCT FROM (OLD.balance, OLD.posting_count)
       AND (pg_trigger_depth() < 2 OR NEW.posting_count <> OLD.posting_count + 1) THEN
        PERFORM pb_raise('balance_is_derived', jsonb_build_object('account_id', OLD.id));
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER accounts_guard BEFORE UPDATE OR DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION accounts_guard();
CREATE TRIGGER accounts_no_truncate BEFORE TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION pb_refuse_change();

-- An entry as JSON, the shape the service returns for a post and for its replays.
CREATE FUNCTION ledger_entry_json(entry_realm text, entry_id bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'realm', e.realm, 'id', e.id, 'kind', e.kind,
        'reverses_entry_id', e.reverses_entry_id, 'reference', e.reference, 'memo', e.memo,
        'created_by', e.created_by, 'created_at', e.created_at,
        'postings', (SELECT jsonb_agg(jsonb_build_object(
                         'account_id', p.account_id, 'asset', p.asset, 'amount', p.amount,
                         'balance_after', p.balance_after) ORDER BY p.account_id)
                       FROM postings p WHERE p.realm = e.realm AND p.entry_id = e.id))
      FROM entries e WHERE e.realm = entry_realm AND e.id = entry_id
$$;

-- A replay of an idempotency key returns the first result; a different request under
-- the same key is refused (invariant 5).
CREATE FUNCTION ledger_replay(entry_realm text, key text, request_hash bytea) RETURNS jsonb
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

-- Post one entry inside the caller's transaction:
--   {realm, kind, idempotency_key?, request_hash? (hex), reverses_entry_id?, reference?,
--    memo?, created_by, postings: [{account_id, amount}]}
-- Locks its accounts in id order, so concurrent posts queue instead of deadlocking.
-- Works on arrays rather than joins: every statement here is an index probe.
CREATE FUNCTION ledger_post_entry(request jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    entry_realm  text := request->>'realm';
    key          text := request->>'idempotency_key';
    request_hash bytea := decode(request->>'request_hash', 'hex');
    reverses_id  bigint := (request->>'reverses_entry_id')::bigint;
    account_ids  bigint[];
    amounts      bigint[];
    found_ids    bigint[];
    assets       text[];
    replay       jsonb;
    new_id       bigint;
    new_time     timestamptz;
    posted       jsonb;
BEGIN
    IF key IS NOT NULL THEN
        replay := ledger_replay(entry_realm, key, request_hash);
        IF replay IS NOT NULL THEN
            RETURN replay;
        END IF;
    END IF;

    SELECT array_agg((l->>'account_id')::bigint ORDER BY (l->>'account_id')::bigint),
           array_agg((l->>'amount')::bigint ORDER BY (l->>'account_id')::bigint)
      INTO account_ids, amounts
      FROM jsonb_array_elements(request->'postings') l;

    SELECT array_agg(locked.id ORDER BY locked.id), array_agg(locked.asset ORDER BY locked.id)
      INTO found_ids, assets
      FROM (SELECT a.id, a.asset FROM accounts a
             WHERE a.realm = entry_realm AND a.id = ANY (account_ids)
             ORDER BY a.id FOR UPDATE) locked;
    IF found_ids IS DISTINCT FROM account_ids THEN
        PERFORM pb_raise('unknown_account', jsonb_build_object('account_id',
            (SELECT min(x) FROM unnest(account_ids) x WHERE found_ids IS NULL OR x <> ALL (found_ids))));
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(assets, amounts) AS l (asset, amount)
                GROUP BY l.asset HAVING sum(l.amount) <> 0) THEN
        PERFORM pb_raise('entry_unbalanced', '{}');
    END IF;
    IF reverses_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM entries e WHERE e.realm = entry_realm AND e.reverses_entry_id = reverses_id) THEN
        PERFORM pb_raise('entry_already_reversed', jsonb_build_object('entry_id', reverses_id));
    END IF;

    INSERT INTO entries (realm, kind, idempotency_key, request_hash, reverses_entry_id,
                         reference, memo, created_by, created_at, created_txid)
    VALUES (entry_realm, request->>'kind', key, request_hash, reverses_id,
            request->>'reference', request->>'memo', request->>'created_by', now(), 0)
    ON CONFLICT ON CONSTRAINT entries_idempotency_key DO NOTHING
    RETURNING id, created_at INTO new_id, new_time;
    IF new_id IS NULL THEN
        -- a concurrent request with the same key committed first
        RETURN ledger_replay(entry_realm, key, request_hash);
    END IF;

    WITH inserted AS (
        INSERT INTO postings (realm, entry_id, account_id, account_seq, asset, amount,
                              balance_after, created_at)
        SELECT entry_realm, new_id, l.id, 0, l.asset, l.amount, 0, now()
          FROM unnest(account_ids, assets, amounts) AS l (id, asset, amount)
        RETURNING account_id, asset, amount, balance_after)
    SELECT jsonb_agg(jsonb_build_object('account_id', account_id, 'asset', asset, 'amount', amount,
                                        'balance_after', balance_after) ORDER BY account_id)
      INTO posted FROM inserted;

    RETURN jsonb_build_object(
        'realm', entry_realm, 'id', new_id, 'kind', request->>'kind',
        'reverses_entry_id', reverses_id, 'reference', request->>'reference',
        'memo', request->>'memo', 'created_by', request->>'created_by', 'created_at', new_time,
        'postings', posted, 'replayed', false);
END $$;

-- Group commit: post many entries in one transaction, one result per item. An item that
-- fails is rolled back alone (its own subtransaction) and reported by code; the others
-- commit together. All accounts are locked up front in (realm, id) order.
CREATE FUNCTION ledger_post_batch(requests jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    request    jsonb;
    results    jsonb[] := '{}';
    message    text;
    detail     text;
    constraint_name text;
BEGIN
    PERFORM 1 FROM accounts a
      JOIN (SELECT DISTINCT r->>'realm' AS realm, (l->>'account_id')::bigint AS id
              FROM jsonb_array_elements(requests) r,
                   jsonb_array_elements(r->'postings') l) wanted
        ON a.realm = wanted.realm AND a.id = wanted.id
     ORDER BY a.realm, a.id FOR UPDATE OF a;

    FOR request IN SELECT value FROM jsonb_array_elements(requests) LOOP
        BEGIN
            results := results || ledger_post_entry(request);
        EXCEPTION
            WHEN raise_exception THEN
                GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
                results := results || jsonb_build_object('error', message,
                                                         'detail', coalesce(detail, '{}')::jsonb);
            WHEN unique_violation OR check_violation OR foreign_key_violation
                 OR not_null_violation OR invalid_text_representation
                 OR numeric_value_out_of_range THEN
                GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, constraint_name = CONSTRAINT_NAME;
                results := results || jsonb_build_object(
                    'error', 'constraint_violation',
                    'detail', jsonb_build_object('constraint', constraint_name, 'message', message));
        END;
    END LOOP;
    RETURN to_jsonb(results);
END $$;

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
