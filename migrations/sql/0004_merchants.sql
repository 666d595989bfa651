-- Since revision 0011 the functions and triggers this revision once defined live in one
-- file each under their package (`<package>/sql/`, applied by migrations/objects.py);
-- this file keeps its tables, indexes, constraints, grants and data.

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

SELECT pb_append_only('settlement_accounts');

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
