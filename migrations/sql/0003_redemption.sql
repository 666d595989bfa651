-- Redemption: the merchant registry, vouchers (hold, capture, release) and redemptions.
--
-- Invariants held here (the Python services check the same rules first):
--   7. every hold account's balance equals the sum of its outstanding (issued) vouchers:
--      a deferred check at COMMIT of any transaction that changes a voucher or posts a
--      hold, capture or release entry; `hold_reconciliation` is the same sum for audits.
--   8. a voucher leaves `issued` at most once (captured, cancelled or expired), never
--      changes after that, and is never deleted; a voucher has at most one redemption.
-- Every per-realm table carries `realm`, and every primary and unique key includes it.

-- Merchants ------------------------------------------------------------------------------

CREATE TABLE merchants (
    realm       text NOT NULL REFERENCES realms (code),
    id          bigint GENERATED ALWAYS AS IDENTITY,
    station_id  bigint,
    kind        text NOT NULL CHECK (kind IN ('general', 'agri_shop', 'service_provider')),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    contact     text CHECK (length(contact) <= 200),
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'closed')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    status_changed_at timestamptz,
    PRIMARY KEY (realm, id)
);
CREATE INDEX merchants_id ON merchants (id);

-- Only the status moves, and a closed merchant stays closed.
CREATE FUNCTION merchants_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pb_raise('append_only', jsonb_build_object('table', 'merchants', 'operation', TG_OP));
    END IF;
    IF (NEW.realm, NEW.id, NEW.kind, NEW.created_at) IS DISTINCT FROM (OLD.realm, OLD.id, OLD.kind, OLD.created_at) THEN
        PERFORM pb_raise('merchant_immutable', jsonb_build_object('merchant_id', OLD.id));
    END IF;
    IF OLD.status = 'closed' AND NEW.status <> 'closed' THEN
        PERFORM pb_raise('merchant_closed', jsonb_build_object('merchant_id', OLD.id));
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER merchants_guard BEFORE UPDATE OR DELETE ON merchants
    FOR EACH ROW EXECUTE FUNCTION merchants_guard();
CREATE TRIGGER merchants_no_truncate BEFORE TRUNCATE ON merchants
    FOR EACH STATEMENT EXECUTE FUNCTION pb_refuse_change();

-- Voucher policy per realm (absent: the defaults in redemption/model.py) --------------

CREATE TABLE voucher_policies (
    realm            text PRIMARY KEY REFERENCES realms (code),
    lifetime_days    integer NOT NULL CHECK (lifetime_days BETWEEN 1 AND 366),
    outstanding_max  integer NOT NULL CHECK (outstanding_max BETWEEN 1 AND 1000)
);

-- Vouchers -------------------------------------------------------------------------------

CREATE TABLE vouchers (
    realm               text NOT NULL REFERENCES realms (code),
    id                  bigint GENERATED ALWAYS AS IDENTITY,
    serial              bytea NOT NULL CHECK (length(serial) = 16),
    short_code          text NOT NULL CHECK (short_code ~ '^[0-9A-Z*~$=]{13}$'),
    code                text NOT NULL CHECK (length(code) <= 400),
    key_id              integer NOT NULL CHECK (key_id BETWEEN 1 AND 65535),
    resident_id         bigint NOT NULL,
    resident_account_id bigint NOT NULL,
    hold_account_id     bigint NOT NULL,
    asset               text NOT NULL REFERENCES assets (code),
    amount              bigint NOT NULL CHECK (amount > 0),
    scope_merchant_id   bigint,
    scope_merchant_kind text CHECK (scope_merchant_kind IN ('general', 'agri_shop', 'service_provider')),
    expires_at          timestamptz NOT NULL,
    status              text NOT NULL DEFAULT 'issued'
                        CHECK (status IN ('issued', 'redeemed', 'partially_redeemed', 'cancelled', 'expired')),
    captured_amount     bigint,
    hold_entry_id       bigint NOT NULL,
    idempotency_key     text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    request_hash        bytea,
    created_by          text NOT NULL CHECK (length(created_by) <= 200),
    created_at          timestamptz NOT NULL DEFAULT now(),
    closed_at           timestamptz,
    PRIMARY KEY (realm, id),
    CONSTRAINT vouchers_serial_unique UNIQUE (realm, serial),
    CONSTRAINT vouchers_short_code_unique UNIQUE (realm, short_code),
    CONSTRAINT vouchers_idempotency_key UNIQUE (realm, idempotency_key),
    FOREIGN KEY (realm, resident_account_id) REFERENCES accounts (realm, id),
    FOREIGN KEY (realm, hold_account_id) REFERENCES accounts (realm, id),
    FOREIGN KEY (realm, hold_entry_id) REFERENCES entries (realm, id),
    CONSTRAINT vouchers_one_scope CHECK (scope_merchant_id IS NULL OR scope_merchant_kind IS NULL),
    CONSTRAINT vouchers_agri_scope CHECK (asset <> 'agri' OR scope_merchant_id IS NOT NULL
                                          OR scope_merchant_kind = 'agri_shop'),
    CONSTRAINT vouchers_closed CHECK ((status = 'issued') = (closed_at IS NULL)),
    CONSTRAINT vouchers_captured CHECK (CASE
        WHEN status = 'redeemed' THEN captured_amount = amount
        WHEN status = 'partially_redeemed' THEN captured_amount > 0 AND captured_amount < amount
        ELSE captured_amount IS NULL END)
);
CREATE INDEX vouchers_id ON vouchers (id);
CREATE INDEX vouchers_short_code ON vouchers (short_code);
CREATE INDEX vouchers_resident ON vouchers (realm, resident_id, id);
CREATE INDEX vouchers_outstanding ON vouchers (realm, asset) INCLUDE (amount) WHERE status = 'issued';
CREATE INDEX vouchers_due ON vouchers (expires_at) WHERE status = 'issued';

-- Invariant 8: `issued` -> one terminal status, once; nothing else ever changes.
CREATE FUNCTION vouchers_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pb_raise('append_only', jsonb_build_object('table', 'vouchers', 'operation', TG_OP));
    END IF;
    IF OLD.status <> 'issued' THEN
        PERFORM pb_raise('voucher_closed', jsonb_build_object('voucher_id', OLD.id, 'status', OLD.status));
    END IF;
    IF (NEW.realm, NEW.id, NEW.serial, NEW.short_code, NEW.code, NEW.key_id, NEW.resident_id,
        NEW.resident_account_id, NEW.hold_account_id, NEW.asset, NEW.amount,
        NEW.scope_merchant_id, NEW.scope_merchant_kind, NEW.expires_at, NEW.hold_entry_id,
        NEW.idempotency_key, NEW.request_hash, NEW.created_by, NEW.created_at)
       IS DISTINCT FROM
       (OLD.realm, OLD.id, OLD.serial, OLD.short_code, OLD.code, OLD.key_id, OLD.resident_id,
        OLD.resident_account_id, OLD.hold_account_id, OLD.asset, OLD.amount,
        OLD.scope_merchant_id, OLD.scope_merchant_kind, OLD.expires_at, OLD.hold_entry_id,
        OLD.idempotency_key, OLD.request_hash, OLD.created_by, OLD.created_at) THEN
        PERFORM pb_raise('voucher_immutable', jsonb_build_object('voucher_id', OLD.id));
    END IF;
    IF NEW.status = 'expired' AND NEW.expires_at > now() THEN
        PERFORM pb_raise('voucher_not_expired', jsonb_build_object('voucher_id', OLD.id));
    END IF;
    IF NEW.status IN ('redeemed', 'partially_redeemed') AND NEW.expires_at <= now() THEN
        PERFORM pb_raise('voucher_expired', jsonb_build_object('voucher_id', OLD.id));
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER vouchers_guard BEFORE UPDATE OR DELETE ON vouchers
    FOR EACH ROW EXECUTE FUNCTION vouchers_guard();
CREATE TRIGGER vouchers_no_truncate BEFORE TRUNCATE ON vouchers
    FOR EACH STATEMENT EXECUTE FUNCTION pb_refuse_change();

-- A new voucher: issued, and within its resident's outstanding limit. The advisory lock
-- queues a resident's concurrent issues so the count cannot be raced.
CREATE FUNCTION vouchers_admit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    outstanding_max integer;
    outstanding     integer;
BEGIN
    IF NEW.status <> 'issued' OR NEW.captured_amount IS NOT NULL OR NEW.closed_at IS NOT NULL THEN
        PERFORM pb_raise('voucher_not_issued', '{}');
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('voucher-resident:' || NEW.realm || ':' || NEW.resident_id, 0));
    SELECT p.outstanding_max INTO outstanding_max FROM voucher_policies p WHERE p.realm = NEW.realm;
    SELECT count(*) INTO outstanding FROM vouchers v
     WHERE v.realm = NEW.realm AND v.resident_id = NEW.resident_id AND v.status = 'issued';
    IF outstanding >= coalesce(outstanding_max, 20) THEN
        PERFORM pb_raise('voucher_limit_reached',
                         jsonb_build_object('outstanding', outstanding, 'limit', coalesce(outstanding_max, 20)));
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER vouchers_admit BEFORE INSERT ON vouchers
    FOR EACH ROW EXECUTE FUNCTION vouchers_admit();

-- Invariant 7, for audits: per realm and asset, the hold account's balance against the
-- sum of outstanding vouchers. `difference` is 0 on a sound book.
CREATE VIEW hold_reconciliation AS
SELECT a.realm, a.asset, a.id AS hold_account_id, a.balance AS hold_balance,
       coalesce(v.outstanding, 0) AS outstanding,
       a.balance - coalesce(v.outstanding, 0) AS difference
  FROM accounts a
  LEFT JOIN (SELECT realm, asset, sum(amount) AS outstanding FROM vouchers
              WHERE status = 'issued' GROUP BY realm, asset) v
         ON v.realm = a.realm AND v.asset = a.asset
 WHERE a.kind = 'hold';

-- The running total of outstanding (issued) vouchers per realm and asset, kept by the
-- vouchers trigger below in the same transaction as the voucher change, so invariant 7
-- can be checked at COMMIT in constant time. The audit recomputes it from the vouchers
-- themselves (`hold_reconciliation`), so a tampered total is caught there.
CREATE TABLE voucher_outstanding (
    realm   text NOT NULL REFERENCES realms (code),
    asset   text NOT NULL REFERENCES assets (code),
    amount  bigint NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (realm, asset)
);

CREATE FUNCTION vouchers_count_outstanding() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    change bigint := 0;
BEGIN
    IF TG_OP = 'INSERT' AND NEW.status = 'issued' THEN
        change := NEW.amount;
    ELSIF TG_OP = 'UPDATE' AND OLD.status = 'issued' AND NEW.status <> 'issued' THEN
        change := -OLD.amount;
    END IF;
    IF change <> 0 THEN
        -- the hold account first, as an issue's entry takes it before its voucher row:
        -- one lock order for issue, capture and release, so they never deadlock
        PERFORM 1 FROM accounts a WHERE a.realm = NEW.realm AND a.id = NEW.hold_account_id FOR UPDATE;
    END IF;
    IF change > 0 THEN
        INSERT INTO voucher_outstanding AS o (realm, asset, amount)
        VALUES (NEW.realm, NEW.asset, change)
        ON CONFLICT (realm, asset) DO UPDATE SET amount = o.amount + excluded.amount;
    ELSIF change < 0 THEN  -- (a negative proposed row would fail the CHECK before the conflict)
        UPDATE voucher_outstanding o SET amount = o.amount + change
         WHERE o.realm = NEW.realm AND o.asset = NEW.asset;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER vouchers_count_outstanding AFTER INSERT OR UPDATE ON vouchers
    FOR EACH ROW EXECUTE FUNCTION vouchers_count_outstanding();

-- Invariant 7 at COMMIT, once per realm and asset per transaction: the hold account's
-- balance equals the outstanding total.
CREATE FUNCTION hold_check(check_realm text, check_asset text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    flag text := 'pb.hold_checked_' || check_realm || '_' || check_asset;
    hold_balance bigint;
    outstanding  bigint;
BEGIN
    IF current_setting(flag, true) = txid_current()::text THEN
        RETURN;
    END IF;
    PERFORM set_config(flag, txid_current()::text, true);
    SELECT a.balance INTO hold_balance FROM accounts a
     WHERE a.realm = check_realm AND a.kind = 'hold' AND a.asset = check_asset;
    SELECT coalesce(max(o.amount), 0) INTO outstanding FROM voucher_outstanding o
     WHERE o.realm = check_realm AND o.asset = check_asset;
    IF hold_balance IS DISTINCT FROM outstanding THEN
        PERFORM pb_raise('hold_mismatch', jsonb_build_object(
            'realm', check_realm, 'asset', check_asset,
            'hold_balance', hold_balance, 'outstanding', outstanding));
    END IF;
END $$;

CREATE FUNCTION vouchers_check_hold() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM hold_check(NEW.realm, NEW.asset);
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER vouchers_hold_balanced AFTER INSERT OR UPDATE ON vouchers
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION vouchers_check_hold();

CREATE FUNCTION entries_check_hold() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    hold_asset text;
BEGIN
    FOR hold_asset IN
        SELECT DISTINCT p.asset FROM postings p
          JOIN accounts a ON a.realm = p.realm AND a.id = p.account_id AND a.kind = 'hold'
         WHERE p.realm = NEW.realm AND p.entry_id = NEW.id LOOP
        PERFORM hold_check(NEW.realm, hold_asset);
    END LOOP;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER entries_hold_balanced AFTER INSERT ON entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.kind IN ('hold', 'capture', 'release'))
    EXECUTE FUNCTION entries_check_hold();

-- Redemptions: one per voucher (invariant 8 again), one per merchant idempotency key.
-- `realm` is the voucher's realm (where the capture entry is); `merchant_realm` the
-- merchant's (a cross-realm redemption also has a `clear` entry there).
CREATE TABLE redemptions (
    realm            text NOT NULL REFERENCES realms (code),
    id               bigint GENERATED ALWAYS AS IDENTITY,
    voucher_id       bigint NOT NULL,
    merchant_id      bigint NOT NULL,
    merchant_realm   text NOT NULL REFERENCES realms (code),
    amount           bigint NOT NULL CHECK (amount > 0),
    entry_id         bigint NOT NULL,
    clear_entry_id   bigint,
    offline          boolean NOT NULL DEFAULT false,
    idempotency_key  text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    request_hash     bytea NOT NULL,
    created_by       text NOT NULL CHECK (length(created_by) <= 200),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, id),
    CONSTRAINT redemptions_voucher_once UNIQUE (realm, voucher_id),
    CONSTRAINT redemptions_idempotency_key UNIQUE (realm, merchant_id, idempotency_key),
    FOREIGN KEY (realm, voucher_id) REFERENCES vouchers (realm, id),
    FOREIGN KEY (realm, entry_id) REFERENCES entries (realm, id),
    CONSTRAINT redemptions_clear CHECK ((clear_entry_id IS NULL) = (merchant_realm = realm))
);
CREATE INDEX redemptions_id ON redemptions (id);
CREATE INDEX redemptions_merchant ON redemptions (merchant_id, created_at);
SELECT pb_append_only('redemptions');

GRANT SELECT, INSERT ON merchants, vouchers, redemptions TO pointsbank_app;
GRANT UPDATE (status, status_changed_at, station_id, name, contact) ON merchants TO pointsbank_app;
GRANT UPDATE (status, captured_amount, closed_at) ON vouchers TO pointsbank_app;
GRANT SELECT, INSERT, UPDATE ON voucher_policies TO pointsbank_app;
GRANT SELECT ON hold_reconciliation, voucher_outstanding TO pointsbank_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO pointsbank_app;

-- Group commit for captures: many redemptions in one transaction and one COMMIT, each in
-- its own subtransaction (a refusal rolls back that item alone). The hold account is
-- locked once per batch instead of once per redemption. One item:
--   {realm, serial (hex), voucher_id, status, captured, entry (as for ledger_post_entry),
--    merchant_id, merchant_realm, idempotency_key, request_hash (hex), offline, created_by}
CREATE FUNCTION voucher_capture(request jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    voucher_realm  text := request->>'realm';
    voucher_serial bytea := decode(request->>'serial', 'hex');
    captured       bigint := (request->>'captured')::bigint;
    voucher        vouchers;
    lines          jsonb;
    entry          jsonb;
    redemption     redemptions;
BEGIN
    UPDATE vouchers v
       SET status = CASE WHEN captured = v.amount THEN 'redeemed' ELSE 'partially_redeemed' END,
           captured_amount = captured, closed_at = now()
     WHERE v.realm = voucher_realm AND v.serial = voucher_serial AND v.status = 'issued'
       AND v.expires_at > now()
    RETURNING * INTO voucher;
    IF NOT FOUND THEN
        SELECT * INTO voucher FROM vouchers v WHERE v.realm = voucher_realm AND v.serial = voucher_serial;
        PERFORM pb_raise(CASE WHEN NOT FOUND THEN 'voucher_not_found'
                              WHEN voucher.status IN ('redeemed', 'partially_redeemed') THEN 'voucher_already_redeemed'
                              WHEN voucher.status = 'cancelled' THEN 'voucher_cancelled'
                              ELSE 'voucher_expired' END,
                         jsonb_build_object('voucher_id', voucher.id));
    END IF;
    -- the signed code the merchant showed must be this row's
    IF (voucher.amount, voucher.asset) IS DISTINCT FROM ((request->>'amount')::bigint, request->>'asset') THEN
        PERFORM pb_raise('voucher_immutable', jsonb_build_object('voucher_id', voucher.id));
    END IF;
    lines := jsonb_build_array(
        jsonb_build_object('account_id', voucher.hold_account_id, 'amount', -voucher.amount),
        jsonb_build_object('account_id', (request->>'merchant_account_id')::bigint, 'amount', captured));
    IF captured < voucher.amount THEN  -- a partial capture: the rest goes back at once
        lines := lines || jsonb_build_object('account_id', voucher.resident_account_id,
                                             'amount', voucher.amount - captured);
    END IF;
    entry := ledger_post_entry(jsonb_build_object(
        'realm', voucher_realm, 'kind', 'capture', 'reference', 'voucher:' || encode(voucher.serial, 'hex'),
        'memo', 'voucher redeemed', 'created_by', request->>'created_by', 'postings', lines));
    INSERT INTO redemptions (realm, voucher_id, merchant_id, merchant_realm, amount, entry_id,
                             offline, idempotency_key, request_hash, created_by)
    VALUES (voucher_realm, voucher.id, (request->>'merchant_id')::bigint, request->>'merchant_realm',
            captured, (entry->>'id')::bigint, (request->>'offline')::boolean,
            request->>'idempotency_key', decode(request->>'request_hash', 'hex'), request->>'created_by')
    RETURNING * INTO redemption;
    RETURN jsonb_build_object('id', redemption.id, 'realm', redemption.realm,
                              'voucher_id', redemption.voucher_id, 'merchant_id', redemption.merchant_id,
                              'amount', redemption.amount, 'entry_id', redemption.entry_id,
                              'clear_entry_id', NULL, 'offline', redemption.offline,
                              'created_at', redemption.created_at);
END $$;

-- Only an active merchant takes a redemption, whichever path wrote it: the service's own
-- check reads a briefly cached merchant, this one the row as it is now.
CREATE FUNCTION redemptions_merchant_active() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    merchant_status text;
BEGIN
    SELECT m.status INTO merchant_status FROM merchants m
     WHERE m.realm = NEW.merchant_realm AND m.id = NEW.merchant_id;
    IF merchant_status IS DISTINCT FROM 'active' THEN
        PERFORM pb_raise('merchant_not_active', jsonb_build_object(
            'merchant_id', NEW.merchant_id, 'status', merchant_status));
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER redemptions_merchant_active BEFORE INSERT ON redemptions
    FOR EACH ROW EXECUTE FUNCTION redemptions_merchant_active();

CREATE FUNCTION voucher_capture_batch(requests jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    request    jsonb;
    results    jsonb[] := '{}';
    message    text;
    detail     text;
    constraint_name text;
BEGIN
    FOR request IN SELECT value FROM jsonb_array_elements(requests) LOOP
        BEGIN
            results := results || voucher_capture(request);
        EXCEPTION
            WHEN raise_exception THEN
                GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
                results := results || jsonb_build_object('error', message,
                                                         'detail', coalesce(detail, '{}')::jsonb);
            WHEN unique_violation OR check_violation OR foreign_key_violation THEN
                GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, constraint_name = CONSTRAINT_NAME;
                results := results || jsonb_build_object(
                    'error', 'constraint_violation',
                    'detail', jsonb_build_object('constraint', constraint_name, 'message', message));
        END;
    END LOOP;
    RETURN to_jsonb(results);
END $$;
