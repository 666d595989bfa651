-- Merchants: rewards catalogue (stock reserved per voucher), settlement with signed
-- statements, the realm's settlement rate, and the merchant reconciliation check.
--
-- Invariants held here (the Python services check the same rules first):
--   * a catalogue item's stock never goes below zero (CHECK; reservations take it with a
--     guarded UPDATE under the item's row lock);
--   * a reservation names one issued voucher that matches its item (merchant, asset,
--     price), and its stock comes back exactly once, in the same transaction as the
--     voucher's release (cancel or expiry): a trigger on the voucher's status change;
--   * a merchant's settlement periods follow each other without gap or overlap, at most
--     one per merchant and period start, never ending in the future; each settles exactly
--     the merchant account's postings after the previous settlement's last one, and its
--     settle entry moves exactly those points; statements never change, payment is
--     recorded once (`open` -> `paid`).
-- Every per-realm table carries `realm`, and every primary and unique key includes it.

-- Settlement rate per realm: money owed per point, in fen (1 yuan = 100 fen) ------------

CREATE TABLE settlement_rates (
    realm          text PRIMARY KEY REFERENCES realms (code),
    fen_per_point  integer NOT NULL CHECK (fen_per_point BETWEEN 1 AND 100000),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Rewards catalogue --------------------------------------------------------------------

CREATE TABLE catalogue_items (
    realm         text NOT NULL REFERENCES realms (code),
    id            bigint GENERATED ALWAYS AS IDENTITY,
    merchant_id   bigint NOT NULL,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description   text CHECK (length(description) <= 2000),
    price         bigint NOT NULL CONSTRAINT catalogue_items_price_positive CHECK (price > 0 AND price <= 1000000),
    asset         text NOT NULL REFERENCES assets (code),
    -- NULL: unlimited
    stock         bigint CONSTRAINT catalogue_items_stock_nonnegative CHECK (stock >= 0),
    active        boolean NOT NULL DEFAULT true,
    active_from   timestamptz,
    active_until  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, id),
    FOREIGN KEY (realm, merchant_id) REFERENCES merchants (realm, id),
    CONSTRAINT catalogue_items_window CHECK (active_until IS NULL OR active_from IS NULL
                                             OR active_until > active_from)
);
CREATE INDEX catalogue_items_id ON catalogue_items (id);
CREATE INDEX catalogue_items_merchant ON catalogue_items (realm, merchant_id, id);

-- An item's merchant, asset and price never change (its reservations name them); agri
-- items only at agri shops.
CREATE FUNCTION catalogue_items_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    merchant_kind text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pb_raise('append_only', jsonb_build_object('table', 'catalogue_items', 'operation', TG_OP));
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.realm, NEW.id, NEW.merchant_id, NEW.asset, NEW.price, NEW.created_at)
           IS DISTINCT FROM (OLD.realm, OLD.id, OLD.merchant_id, OLD.asset, OLD.price, OLD.created_at) THEN
        PERFORM pb_raise('catalogue_item_immutable', jsonb_build_object('item_id', OLD.id));
    END IF;
    IF TG_OP = 'INSERT' THEN
        SELECT m.kind INTO merchant_kind FROM merchants m WHERE m.realm = NEW.realm AND m.id = NEW.merchant_id;
        IF NEW.asset = 'agri' AND merchant_kind IS DISTINCT FROM 'agri_shop' THEN
            PERFORM pb_raise('agri_needs_agri_shop', jsonb_build_object('merchant_id', NEW.merchant_id));
        END IF;
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER catalogue_items_guard BEFORE INSERT OR UPDATE OR DELETE ON catalogue_items
    FOR EACH ROW EXECUTE FUNCTION catalogue_items_guard();
CREATE TRIGGER catalogue_items_no_truncate BEFORE TRUNCATE ON catalogue_items
    FOR EACH STATEMENT EXECUTE FUNCTION pb_refuse_change();

-- One reservation per voucher issued for a catalogue item. `returned_at` is set (once) by
-- the trigger below when the voucher is cancelled or expires, and the stock comes back.
CREATE TABLE catalogue_reservations (
    realm        text NOT NULL REFERENCES realms (code),
    voucher_id   bigint NOT NULL,
    item_id      bigint NOT NULL,
    merchant_id  bigint NOT NULL,
    points       bigint NOT NULL CHECK (points > 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    returned_at  timestamptz,
    PRIMARY KEY (realm, voucher_id),
    FOREIGN KEY (realm, voucher_id) REFERENCES vouchers (realm, id),
    FOREIGN KEY (realm, item_id) REFERENCES catalogue_items (realm, id)
);
CREATE INDEX catalogue_reservations_item ON catalogue_reservations (realm, item_id);

-- A reservation matches its voucher (issued now, for the item's merchant, asset and price)
-- and its item's merchant is active.
CREATE FUNCTION catalogue_reservations_admit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    voucher vouchers;
    item    catalogue_items;
    merchant_status text;
BEGIN
    SELECT * INTO voucher FROM vouchers v WHERE v.realm = NEW.realm AND v.id = NEW.voucher_id;
    SELECT * INTO item FROM catalogue_items i WHERE i.realm = NEW.realm AND i.id = NEW.item_id;
    SELECT m.status INTO merchant_status FROM merchants m WHERE m.realm = NEW.realm AND m.id = item.merchant_id;
    IF voucher.status IS DISTINCT FROM 'issued' OR NEW.returned_at IS NOT NULL
       OR voucher.scope_merchant_id IS DISTINCT FROM item.merchant_id
       OR NEW.merchant_id IS DISTINCT FROM item.merchant_id
       OR voucher.asset IS DISTINCT FROM item.asset
       OR voucher.amount IS DISTINCT FROM item.price OR NEW.points IS DISTINCT FROM item.price THEN
        PERFORM pb_raise('reservation_mismatch', jsonb_build_object('voucher_id', NEW.voucher_id,
                                                                     'item_id', NEW.item_id));
    END IF;
    IF merchant_status IS DISTINCT FROM 'active' THEN
        PERFORM pb_raise('merchant_not_active', jsonb_build_object('merchant_id', item.merchant_id));
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER catalogue_reservations_admit BEFORE INSERT ON catalogue_reservations
    FOR EACH ROW EXECUTE FUNCTION catalogue_reservations_admit();

-- Only `returned_at` moves, once, and only by the release trigger (it runs as the owner;
-- the application role has no UPDATE right here).
CREATE FUNCTION catalogue_reservations_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pb_raise('append_only', jsonb_build_object('table', 'catalogue_reservations', 'operation', TG_OP));
    END IF;
    IF OLD.returned_at IS NOT NULL
       OR (NEW.realm, NEW.voucher_id, NEW.item_id, NEW.merchant_id, NEW.points, NEW.created_at)
          IS DISTINCT FROM (OLD.realm, OLD.voucher_id, OLD.item_id, OLD.merchant_id, OLD.points, OLD.created_at) THEN
        PERFORM pb_raise('reservation_immutable', jsonb_build_object('voucher_id', OLD.voucher_id));
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER catalogue_reservations_guard BEFORE UPDATE OR DELETE ON catalogue_reservations
    FOR EACH ROW EXECUTE FUNCTION catalogue_reservations_guard();
CREATE TRIGGER catalogue_reservations_no_truncate BEFORE TRUNCATE ON catalogue_reservations
    FOR EACH STATEMENT EXECUTE FUNCTION pb_refuse_change();

-- A voucher released (cancelled or expired) gives its item's stock back, in the same
-- transaction as the release, whichever path released it (API, CLI, the service's expiry
-- loop). A redeemed voucher keeps its stock taken.
CREATE FUNCTION vouchers_return_stock() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    returned catalogue_reservations;
BEGIN
    UPDATE catalogue_reservations r SET returned_at = now()
     WHERE r.realm = NEW.realm AND r.voucher_id = NEW.id AND r.returned_at IS NULL
    RETURNING * INTO returned;
    IF FOUND THEN
        UPDATE catalogue_items i SET stock = i.stock + 1
         WHERE i.realm = returned.realm AND i.id = returned.item_id AND i.stock IS NOT NULL;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER vouchers_return_stock AFTER UPDATE OF status ON vouchers
    FOR EACH ROW WHEN (OLD.status = 'issued' AND NEW.status IN ('cancelled', 'expired'))
    EXECUTE FUNCTION vouchers_return_stock();

-- Settlements ----------------------------------------------------------------------------

-- One row per merchant and period [period_start, period_end): the settle entry (none when
-- there was nothing to settle), the signed statement, and the payment.
CREATE TABLE settlements (
    realm            text NOT NULL REFERENCES realms (code),
    id               bigint GENERATED ALWAYS AS IDENTITY,
    merchant_id      bigint NOT NULL,
    period_start     timestamptz NOT NULL,
    period_end       timestamptz NOT NULL,
    points           bigint NOT NULL CHECK (points >= 0),
    fen_per_point    integer NOT NULL CHECK (fen_per_point BETWEEN 1 AND 100000),
    amount_fen       bigint NOT NULL,
    entry_id         bigint,
    statement        jsonb NOT NULL,
    statement_sha256 bytea NOT NULL CHECK (length(statement_sha256) = 32),
    signature        bytea NOT NULL CHECK (length(signature) = 64),
    key_id           integer NOT NULL CHECK (key_id BETWEEN 1 AND 65535),
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid')),
    bank_reference   text CHECK (length(bank_reference) BETWEEN 1 AND 100),
    paid_on          date,
    paid_at          timestamptz,
    created_by       text NOT NULL CHECK (length(created_by) <= 200),
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (realm, id),
    FOREIGN KEY (realm, merchant_id) REFERENCES merchants (realm, id),
    FOREIGN KEY (realm, entry_id) REFERENCES entries (realm, id),
    CONSTRAINT settlements_once_per_period UNIQUE (realm, merchant_id, period_start),
    CONSTRAINT settlements_period_end_unique UNIQUE (realm, merchant_id, period_end),
    CONSTRAINT settlements_entry_once UNIQUE (realm, entry_id),
    CONSTRAINT settlements_period CHECK (period_end > period_start),
    CONSTRAINT settlements_not_future CHECK (period_end <= created_at),
    CONSTRAINT settlements_amount CHECK (amount_fen = points * fen_per_point),
    CONSTRAINT settlements_entry CHECK ((entry_id IS NULL) = (points = 0)),
    CONSTRAINT settlements_paid CHECK ((status = 'paid') = (bank_reference IS NOT NULL)
                                       AND (status = 'paid') = (paid_on IS NOT NULL)
                                       AND (status = 'paid') = (paid_at IS NOT NULL))
);
CREATE INDEX settlements_id ON settlements (id);
CREATE INDEX settlements_merchant ON settlements (realm, merchant_id, period_end DESC);

-- Every Idempotency-Key a settlement request came with, per merchant, and the settlement
-- it was answered with (the one it made, or the period's settlement it found): a retry
-- with the key answers the same; the key with another request is refused.
CREATE TABLE settlement_requests (
    realm            text NOT NULL REFERENCES realms (code),
    merchant_id      bigint NOT NULL,
    idempotency_key  text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    request_hash     bytea NOT NULL CHECK (length(request_hash) = 32),
    settlement_id    bigint NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, merchant_id, idempotency_key),
    FOREIGN KEY (realm, settlement_id) REFERENCES settlements (realm, id)
);
SELECT pb_append_only('settlement_requests');

-- Per merchant account: which postings a settlement covers, (seq_after, seq_through], and
-- the points they add up to (settle postings themselves excluded).
CREATE TABLE settlement_accounts (
    realm          text NOT NULL,
    settlement_id  bigint NOT NULL,
    account_id     bigint NOT NULL,
    asset          text NOT NULL REFERENCES assets (code),
    seq_after      bigint NOT NULL CHECK (seq_after >= 0),
    seq_through    bigint NOT NULL,
    points         bigint NOT NULL CHECK (points >= 0),
    PRIMARY KEY (realm, settlement_id, account_id),
    FOREIGN KEY (realm, settlement_id) REFERENCES settlements (realm, id),
    FOREIGN KEY (realm, account_id) REFERENCES accounts (realm, id),
    CONSTRAINT settlement_accounts_range CHECK (seq_through >= seq_after)
);
CREATE INDEX settlement_accounts_account ON settlement_accounts (realm, account_id, seq_through);

-- A new settlement starts where the merchant's last one ended (no gap, no overlap). The
-- advisory lock queues concurrent settlements of one merchant.
CREATE FUNCTION settlements_admit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    previous_end timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('settlement:' || NEW.realm || ':' || NEW.merchant_id, 0));
    NEW.created_at := clock_timestamp();
    IF NEW.status <> 'open' OR NEW.bank_reference IS NOT NULL THEN
        PERFORM pb_raise('settlement_not_open', '{}');
    END IF;
    SELECT max(s.period_end) INTO previous_end FROM settlements s
     WHERE s.realm = NEW.realm AND s.merchant_id = NEW.merchant_id;
    IF previous_end IS NOT NULL AND NEW.period_start < previous_end THEN
        PERFORM pb_raise('settlement_period_overlaps', jsonb_build_object(
            'merchant_id', NEW.merchant_id, 'settled_through', previous_end));
    END IF;
    IF previous_end IS NOT NULL AND NEW.period_start > previous_end THEN
        PERFORM pb_raise('settlement_period_gap', jsonb_build_object(
            'merchant_id', NEW.merchant_id, 'settled_through', previous_end));
    END IF;
    IF NEW.period_end > clock_timestamp() THEN
        PERFORM pb_raise('settlement_period_future', jsonb_build_object('period_end', NEW.period_end));
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER settlements_admit BEFORE INSERT ON settlements
    FOR EACH ROW EXECUTE FUNCTION settlements_admit();

-- A statement never changes; payment is recorded once.
CREATE FUNCTION settlements_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pb_raise('append_only', jsonb_build_object('table', 'settlements', 'operation', TG_OP));
    END IF;
    IF (NEW.realm, NEW.id, NEW.merchant_id, NEW.period_start, NEW.period_end, NEW.points,
        NEW.fen_per_point, NEW.amount_fen, NEW.entry_id, NEW.statement, NEW.statement_sha256,
        NEW.signature, NEW.key_id, NEW.created_by, NEW.created_at)
       IS DISTINCT FROM
       (OLD.realm, OLD.id, OLD.merchant_id, OLD.period_start, OLD.period_end, OLD.points,
        OLD.fen_per_point, OLD.amount_fen, OLD.entry_id, OLD.statement, OLD.statement_sha256,
        OLD.signature, OLD.key_id, OLD.created_by, OLD.created_at) THEN
        PERFORM pb_raise('statement_immutable', jsonb_build_object('settlement_id', OLD.id));
    END IF;
    IF OLD.status = 'paid' THEN
        PERFORM pb_raise('settlement_already_paid', jsonb_build_object('settlement_id', OLD.id));
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER settlements_guard BEFORE UPDATE OR DELETE ON settlements
    FOR EACH ROW EXECUTE FUNCTION settlements_guard();
CREATE TRIGGER settlements_no_truncate BEFORE TRUNCATE ON settlements
    FOR EACH STATEMENT EXECUTE FUNCTION pb_refuse_change();

-- A settled range starts right after the account's previous one, lies within the
-- account's postings, adds up to `points` (settle postings excluded), and the
-- settlement's entry takes exactly those points off the account.
CREATE FUNCTION settlement_accounts_admit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    previous_through bigint;
    account          accounts;
    range_points     bigint;
    moved            bigint;
    settle_entry     bigint;
BEGIN
    SELECT * INTO account FROM accounts a WHERE a.realm = NEW.realm AND a.id = NEW.account_id;
    SELECT s.entry_id INTO settle_entry FROM settlements s
     WHERE s.realm = NEW.realm AND s.id = NEW.settlement_id AND s.merchant_id = account.merchant_id;
    IF NOT FOUND OR account.kind <> 'merchant' OR account.asset <> NEW.asset THEN
        PERFORM pb_raise('settlement_account_mismatch', jsonb_build_object('account_id', NEW.account_id));
    END IF;
    SELECT max(sa.seq_through) INTO previous_through FROM settlement_accounts sa
     WHERE sa.realm = NEW.realm AND sa.account_id = NEW.account_id;
    IF NEW.seq_after <> coalesce(previous_through, 0) OR NEW.seq_through > account.posting_count THEN
        PERFORM pb_raise('settlement_range_invalid', jsonb_build_object(
            'account_id', NEW.account_id, 'seq_after', NEW.seq_after,
            'settled_through', coalesce(previous_through, 0)));
    END IF;
    SELECT coalesce(sum(p.amount), 0) INTO range_points
      FROM postings p JOIN entries e ON e.realm = p.realm AND e.id = p.entry_id
     WHERE p.realm = NEW.realm AND p.account_id = NEW.account_id
       AND p.account_seq > NEW.seq_after AND p.account_seq <= NEW.seq_through AND e.kind <> 'settle';
    SELECT coalesce(-sum(p.amount), 0) INTO moved FROM postings p
     WHERE p.realm = NEW.realm AND p.entry_id = settle_entry AND p.account_id = NEW.account_id;
    IF range_points <> NEW.points OR moved <> NEW.points THEN
        PERFORM pb_raise('settlement_points_mismatch', jsonb_build_object(
            'account_id', NEW.account_id, 'points', NEW.points, 'range_points', range_points,
            'moved', moved));
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER settlement_accounts_admit BEFORE INSERT ON settlement_accounts
    FOR EACH ROW EXECUTE FUNCTION settlement_accounts_admit();
SELECT pb_append_only('settlement_accounts');

-- At COMMIT, a settle entry belongs to a settlement, and each merchant account it debits
-- has that settlement's range for exactly those points: points leave a merchant only with
-- a signed statement saying which lines they were.
CREATE FUNCTION entries_check_settlement() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    owning_settlement bigint;
BEGIN
    SELECT s.id INTO owning_settlement FROM settlements s WHERE s.realm = NEW.realm AND s.entry_id = NEW.id;
    IF NOT FOUND OR EXISTS (
        SELECT 1 FROM postings p
          JOIN accounts a ON a.realm = p.realm AND a.id = p.account_id AND a.kind = 'merchant'
          LEFT JOIN settlement_accounts sa ON sa.realm = p.realm AND sa.settlement_id = owning_settlement
                                          AND sa.account_id = p.account_id
         WHERE p.realm = NEW.realm AND p.entry_id = NEW.id
           AND (sa.points IS NULL OR sa.points <> -p.amount)) THEN
        PERFORM pb_raise('settle_without_settlement', jsonb_build_object('entry_id', NEW.id));
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER entries_settle_has_settlement AFTER INSERT ON entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.kind = 'settle')
    EXECUTE FUNCTION entries_check_settlement();

-- Reconciliation: "merchant balances = captures - settlements" ---------------------------
-- One row per merchant account that disagrees (empty on a sound book):
--   received      = capture, clear and adjustment postings on the account;
--   settled       = settle postings taken off it (as a positive number);
--   stated        = points its settlements' statements say were settled;
--   difference    = balance - (received - settled), must be 0; and settled must equal stated.
-- For the audit's registry of checks: `SELECT * FROM merchant_reconciliation [WHERE realm = $1]`,
-- no rows = pass (in Python: `merchants.repository.reconciliation_differences(conn, realm)`).
CREATE VIEW merchant_reconciliation AS
SELECT a.realm, a.id AS account_id, a.merchant_id, a.asset, a.balance,
       coalesce(p.received, 0) AS received, coalesce(p.settled, 0) AS settled,
       coalesce(s.stated, 0) AS stated,
       a.balance - (coalesce(p.received, 0) - coalesce(p.settled, 0)) AS difference
  FROM accounts a
  LEFT JOIN (SELECT p.realm, p.account_id,
                    sum(p.amount) FILTER (WHERE e.kind <> 'settle') AS received,
                    -sum(p.amount) FILTER (WHERE e.kind = 'settle') AS settled
               FROM postings p JOIN entries e ON e.realm = p.realm AND e.id = p.entry_id
              GROUP BY p.realm, p.account_id) p
         ON p.realm = a.realm AND p.account_id = a.id
  LEFT JOIN (SELECT realm, account_id, sum(points) AS stated FROM settlement_accounts
              GROUP BY realm, account_id) s
         ON s.realm = a.realm AND s.account_id = a.id
 WHERE a.kind = 'merchant'
   AND (a.balance <> coalesce(p.received, 0) - coalesce(p.settled, 0)
        OR coalesce(p.settled, 0) <> coalesce(s.stated, 0));

GRANT SELECT, INSERT, UPDATE ON settlement_rates TO pointsbank_app;
GRANT SELECT, INSERT ON catalogue_items, catalogue_reservations, settlements, settlement_accounts,
    settlement_requests TO pointsbank_app;
GRANT UPDATE (name, description, stock, active, active_from, active_until) ON catalogue_items TO pointsbank_app;
GRANT UPDATE (status, bank_reference, paid_on, paid_at) ON settlements TO pointsbank_app;
GRANT SELECT ON merchant_reconciliation TO pointsbank_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO pointsbank_app;
