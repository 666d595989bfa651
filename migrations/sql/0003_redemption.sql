-- Since revision 0011 the functions and triggers this revision once defined live in one
-- file each under their package (`<package>/sql/`, applied by migrations/objects.py);
-- this file keeps its tables, indexes, constraints, grants and data.

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

