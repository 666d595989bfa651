-- Shared resources and reservations (issue 15): providers, resources, slots with a
-- capacity, reservations, and priority places paid in points.
--
-- Invariants held here (resources/service.py checks the same rules first):
--   10. a slot is never overbooked: `booked` counts the slot's booked reservations (kept
--       by the reservations trigger under the slot's row lock, never writable by the
--       application role) and CHECK (booked <= capacity); ordinary bookings never take
--       the places kept for priority (CHECK on booked - priority_booked).
--    7. the hold account's balance = outstanding vouchers + held reservations
--       (`hold_check`, in redemption/sql/hold_check.sql; `reservation_outstanding`
--       is the running total of held reservation points, as `voucher_outstanding` is for
--       vouchers; `hold_reconciliation` subtracts both).
--    8. a priority reservation's points are captured or released once: a reservation
--       leaves `booked` once (guarded trigger), with exactly one close entry of the kind
--       its outcome needs (unique per reservation), never changed after.
-- Every per-realm table carries `realm`, and every primary and unique key includes it.

-- Providers: a service_provider merchant of the realm, or an institution an admin
-- registered (no merchant: it cannot be paid, so it offers no priority places).
CREATE TABLE resource_providers (
    realm        text NOT NULL REFERENCES realms (code),
    id           bigint GENERATED ALWAYS AS IDENTITY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    merchant_id  bigint,
    idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    request_hash bytea,
    created_by   text NOT NULL CHECK (length(created_by) <= 200),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, id),
    CONSTRAINT resource_providers_merchant_once UNIQUE (realm, merchant_id),
    CONSTRAINT resource_providers_idempotency_key UNIQUE (realm, idempotency_key),
    FOREIGN KEY (realm, merchant_id) REFERENCES merchants (realm, id)
);
CREATE INDEX resource_providers_id ON resource_providers (id);
CREATE INDEX resource_providers_merchant ON resource_providers (merchant_id) WHERE merchant_id IS NOT NULL;

CREATE TABLE resources (
    realm              text NOT NULL REFERENCES realms (code),
    id                 bigint GENERATED ALWAYS AS IDENTITY,
    provider_id        bigint NOT NULL,
    kind               text NOT NULL CHECK (kind IN ('talk', 'training', 'legal', 'health', 'agri_tech', 'other')),
    title              text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description        text CHECK (length(description) <= 2000),
    scope              text NOT NULL CHECK (scope IN ('realm', 'shared')),
    station_id         bigint,
    town_id            bigint,
    online             boolean NOT NULL DEFAULT false,
    priority_price     bigint NOT NULL DEFAULT 0 CHECK (priority_price BETWEEN 0 AND 1000000),
    priority_places    integer NOT NULL DEFAULT 0 CHECK (priority_places BETWEEN 0 AND 10000),
    priority_early_h   integer NOT NULL DEFAULT 0 CHECK (priority_early_h BETWEEN 0 AND 720),
    booking_opens_h    integer CHECK (booking_opens_h BETWEEN 1 AND 8760),
    cancel_cutoff_h    integer NOT NULL DEFAULT 24 CHECK (cancel_cutoff_h BETWEEN 0 AND 720),
    no_show_forfeit    boolean NOT NULL DEFAULT true,
    idempotency_key    text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    request_hash       bytea,
    created_by         text NOT NULL CHECK (length(created_by) <= 200),
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, id),
    CONSTRAINT resources_idempotency_key UNIQUE (realm, idempotency_key),
    FOREIGN KEY (realm, provider_id) REFERENCES resource_providers (realm, id),
    FOREIGN KEY (realm, station_id) REFERENCES stations (realm, id),
    FOREIGN KEY (realm, town_id) REFERENCES towns (realm, id),
    CONSTRAINT resources_one_place CHECK (
        (station_id IS NOT NULL)::int + (town_id IS NOT NULL)::int + online::int = 1),
    CONSTRAINT resources_priority_priced CHECK (
        priority_price > 0 OR (priority_places = 0 AND priority_early_h = 0))
);
CREATE INDEX resources_id ON resources (id);
CREATE INDEX resources_realm_kind ON resources (realm, kind, id);
CREATE INDEX resources_shared ON resources (kind, id) WHERE scope = 'shared';
CREATE INDEX resources_provider ON resources (realm, provider_id, id);

CREATE TABLE resource_slots (
    realm            text NOT NULL REFERENCES realms (code),
    id               bigint GENERATED ALWAYS AS IDENTITY,
    resource_id      bigint NOT NULL,
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL,
    capacity         integer NOT NULL CHECK (capacity BETWEEN 1 AND 10000),
    priority_places  integer NOT NULL DEFAULT 0,
    booked           integer NOT NULL DEFAULT 0,
    priority_booked  integer NOT NULL DEFAULT 0,
    cancelled_at     timestamptz,                 -- the provider cancelled the slot: no new booking
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, id),
    CONSTRAINT resource_slots_start_once UNIQUE (realm, resource_id, starts_at),
    FOREIGN KEY (realm, resource_id) REFERENCES resources (realm, id),
    CONSTRAINT resource_slots_span CHECK (ends_at > starts_at),
    CONSTRAINT resource_slots_priority_places CHECK (priority_places BETWEEN 0 AND capacity),
    CONSTRAINT resource_slots_capacity CHECK (booked BETWEEN 0 AND capacity),
    CONSTRAINT resource_slots_priority_booked CHECK (priority_booked BETWEEN 0 AND booked),
    CONSTRAINT resource_slots_ordinary_places CHECK (booked - priority_booked <= capacity - priority_places)
);
CREATE INDEX resource_slots_id ON resource_slots (id);
CREATE INDEX resource_slots_resource ON resource_slots (realm, resource_id, starts_at);

-- A reservation lives in its slot's realm; `booker_realm` is the realm of who booked
-- (a shared resource is booked from other realms). Priority reservations are of the
-- slot's realm only: their hold, capture and release entries are in `realm`.
CREATE TABLE reservations (
    realm                text NOT NULL REFERENCES realms (code),
    id                   bigint GENERATED ALWAYS AS IDENTITY,
    slot_id              bigint NOT NULL,
    resource_id          bigint NOT NULL,
    provider_id          bigint NOT NULL,
    booker_realm         text NOT NULL REFERENCES realms (code),
    booker_station_id    bigint NOT NULL,
    resident_id          bigint,
    station_id           bigint,
    priority             boolean NOT NULL DEFAULT false,
    price                bigint NOT NULL DEFAULT 0 CHECK (price BETWEEN 0 AND 1000000),
    asset                text REFERENCES assets (code),
    forfeit_on_no_show   boolean NOT NULL DEFAULT false,
    resident_account_id  bigint,
    hold_account_id      bigint,
    merchant_account_id  bigint,
    hold_entry_id        bigint,
    close_entry_id       bigint,
    status               text NOT NULL DEFAULT 'booked'
                         CHECK (status IN ('booked', 'cancelled', 'provider_cancelled', 'attended', 'no_show')),
    points               text NOT NULL DEFAULT 'none' CHECK (points IN ('none', 'held', 'captured', 'released')),
    idempotency_key      text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    request_hash         bytea NOT NULL,
    created_by           text NOT NULL CHECK (length(created_by) <= 200),
    created_at           timestamptz NOT NULL DEFAULT now(),
    closed_by            text CHECK (length(closed_by) <= 200),
    closed_at            timestamptz,
    PRIMARY KEY (realm, id),
    CONSTRAINT reservations_idempotency_key UNIQUE (realm, created_by, idempotency_key),
    CONSTRAINT reservations_close_entry_once UNIQUE (realm, close_entry_id),
    FOREIGN KEY (realm, slot_id) REFERENCES resource_slots (realm, id),
    FOREIGN KEY (realm, resource_id) REFERENCES resources (realm, id),
    FOREIGN KEY (realm, provider_id) REFERENCES resource_providers (realm, id),
    FOREIGN KEY (realm, resident_account_id) REFERENCES accounts (realm, id),
    FOREIGN KEY (realm, hold_account_id) REFERENCES accounts (realm, id),
    FOREIGN KEY (realm, merchant_account_id) REFERENCES accounts (realm, id),
    FOREIGN KEY (realm, hold_entry_id) REFERENCES entries (realm, id),
    FOREIGN KEY (realm, close_entry_id) REFERENCES entries (realm, id),
    CONSTRAINT reservations_one_booker CHECK ((resident_id IS NULL) <> (station_id IS NULL)),
    CONSTRAINT reservations_priority_paid CHECK (CASE WHEN priority
        THEN price > 0 AND resident_id IS NOT NULL AND booker_realm = realm AND asset IS NOT NULL
             AND resident_account_id IS NOT NULL AND hold_account_id IS NOT NULL
             AND merchant_account_id IS NOT NULL AND hold_entry_id IS NOT NULL
        ELSE price = 0 AND asset IS NULL AND resident_account_id IS NULL AND hold_account_id IS NULL
             AND merchant_account_id IS NULL AND hold_entry_id IS NULL AND close_entry_id IS NULL END),
    CONSTRAINT reservations_closed CHECK ((status = 'booked') = (closed_at IS NULL)),
    -- the points follow the outcome: held while booked, then one capture or one release
    CONSTRAINT reservations_points CHECK (CASE
        WHEN NOT priority THEN points = 'none'
        WHEN status = 'booked' THEN points = 'held' AND close_entry_id IS NULL
        WHEN status = 'attended' THEN points = 'captured' AND close_entry_id IS NOT NULL
        WHEN status = 'no_show' THEN points = CASE WHEN forfeit_on_no_show THEN 'captured' ELSE 'released' END
                                     AND close_entry_id IS NOT NULL
        ELSE points = 'released' AND close_entry_id IS NOT NULL END)
);
CREATE INDEX reservations_id ON reservations (id);
CREATE INDEX reservations_slot ON reservations (realm, slot_id, id);
CREATE INDEX reservations_provider ON reservations (realm, provider_id, id);
CREATE INDEX reservations_resident ON reservations (booker_realm, resident_id, id) WHERE resident_id IS NOT NULL;
CREATE INDEX reservations_booker_station ON reservations (booker_realm, booker_station_id, id);
-- booking twice: one booked reservation per slot and resident, per slot and station
CREATE UNIQUE INDEX reservations_resident_once ON reservations (realm, slot_id, booker_realm, resident_id)
    WHERE status = 'booked' AND resident_id IS NOT NULL;
CREATE UNIQUE INDEX reservations_station_once ON reservations (realm, slot_id, booker_realm, station_id)
    WHERE status = 'booked' AND station_id IS NOT NULL;
CREATE INDEX reservations_held ON reservations (realm, asset) INCLUDE (price) WHERE points = 'held';

-- The running total of held reservation points per realm and asset (as voucher_outstanding).
CREATE TABLE reservation_outstanding (
    realm   text NOT NULL REFERENCES realms (code),
    asset   text NOT NULL REFERENCES assets (code),
    amount  bigint NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (realm, asset)
);

-- Invariant 7 for audits, now over both kinds of hold: vouchers (`outstanding`, as
-- before) and held reservations (`reserved`); `difference` is 0 on a sound book.
CREATE OR REPLACE VIEW hold_reconciliation AS
SELECT a.realm, a.asset, a.id AS hold_account_id, a.balance AS hold_balance,
       coalesce(v.outstanding, 0) AS outstanding,
       a.balance - coalesce(v.outstanding, 0) - coalesce(r.reserved, 0) AS difference,
       coalesce(r.reserved, 0) AS reserved
  FROM accounts a
  LEFT JOIN (SELECT realm, asset, sum(amount) AS outstanding FROM vouchers
              WHERE status = 'issued' GROUP BY realm, asset) v
         ON v.realm = a.realm AND v.asset = a.asset
  LEFT JOIN (SELECT realm, asset, sum(price) AS reserved FROM reservations
              WHERE points = 'held' GROUP BY realm, asset) r
         ON r.realm = a.realm AND r.asset = a.asset
 WHERE a.kind = 'hold';

GRANT SELECT, INSERT ON resource_providers, resources, reservations TO pointsbank_app;
-- a slot's counts are the reservations trigger's to keep: the application role never writes them
GRANT SELECT ON resource_slots TO pointsbank_app;
GRANT INSERT (realm, resource_id, starts_at, ends_at, capacity, priority_places) ON resource_slots TO pointsbank_app;
GRANT UPDATE (cancelled_at) ON resource_slots TO pointsbank_app;
GRANT UPDATE (name) ON resource_providers TO pointsbank_app;
GRANT UPDATE (status, points, close_entry_id, closed_by, closed_at) ON reservations TO pointsbank_app;
GRANT SELECT ON reservation_outstanding TO pointsbank_app;
GRANT SELECT ON hold_reconciliation TO pointsbank_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO pointsbank_app;
