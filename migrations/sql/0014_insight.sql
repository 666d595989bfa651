-- 0014 insight: privacy opt-in, the transactional outbox (events), inboxes, signed
-- webhooks, indicator rollups, star levels and 文明实践之星.
--
-- Functions and triggers live in notify/sql/*.sql and insight/sql/*.sql, one definition
-- per file; migrations/versions/0014_insight.py applies them after this file.

-- Privacy --------------------------------------------------------------------------------

-- A resident's name is shown to other residents (leaderboards, the star list) only when
-- the resident opted in; otherwise they see it masked (张*).
ALTER TABLE residents ADD COLUMN name_public boolean NOT NULL DEFAULT false;
GRANT UPDATE (name_public) ON residents TO pointsbank_app;

-- The outbox -----------------------------------------------------------------------------

-- What may be emitted, and who reads it in an inbox: the resident or merchant the event
-- names, or the realm's staff. Other packages add their types here (one INSERT).
CREATE TABLE event_types (
    code         text PRIMARY KEY CHECK (code ~ '^[a-z_]{2,40}\.[a-z_]{2,40}$'),
    recipient    text NOT NULL CHECK (recipient IN ('resident', 'merchant', 'staff', 'none')),
    description  text NOT NULL CHECK (length(description) BETWEEN 1 AND 200)
);
INSERT INTO event_types (code, recipient, description) VALUES
    ('points.earned', 'resident', 'an earn entry credited residents'),
    ('voucher.issued', 'resident', 'a voucher was issued (points held)'),
    ('voucher.redeemed', 'resident', 'a voucher was redeemed at a merchant'),
    ('voucher.expired', 'resident', 'a voucher expired and its points returned'),
    ('voucher.expiring', 'resident', 'a voucher expires within three days'),
    ('settlement.issued', 'merchant', 'a settlement statement was issued'),
    ('settlement.paid', 'merchant', 'a settlement was paid'),
    ('budget.low', 'staff', 'a budget lasts under the realm''s months at the current rate'),
    ('recognition.awarded', 'resident', 'a resident was named 文明实践之星'),
    ('star_level.reached', 'resident', 'a resident reached a new star level'),
    ('reservation.booked', 'resident', 'a reservation was booked'),
    ('reservation.cancelled', 'resident', 'a reservation was cancelled (by the booker or the provider)'),
    ('reservation.attended', 'resident', 'a reservation was marked attended'),
    ('reservation.no_show', 'resident', 'a reservation was marked no-show'),
    ('service_request.opened', 'staff', 'a service request was opened'),
    ('service_request.dispatched', 'resident', 'a service request was dispatched to a volunteer'),
    ('service_request.accepted', 'resident', 'a volunteer accepted a service request'),
    ('service_request.done', 'resident', 'a volunteer marked a service request done'),
    ('service_request.confirmed', 'resident', 'the requester confirmed a service request'),
    ('service_request.cancelled', 'resident', 'a service request was cancelled'),
    ('rating.low', 'staff', 'an activity or a service request was rated 2 or less');

-- One row per change, written by a trigger (or notify_emit) in the transaction of the
-- change: it exists if and only if the change committed (invariant 12). No foreign keys
-- (they would add a row-level check to the ledger's hot path); notify_emit checks the
-- type, the triggers write known types. `dispatched_at` is set once, when the row was
-- fanned out to inboxes and webhook deliveries.
CREATE TABLE events (
    realm          text NOT NULL,
    id             bigint GENERATED ALWAYS AS IDENTITY,
    type           text NOT NULL CHECK (type ~ '^[a-z_]{2,40}\.[a-z_]{2,40}$'),
    subject_id     bigint,
    resident_id    bigint,
    merchant_id    bigint,
    payload        jsonb NOT NULL DEFAULT '{}',
    dedup_key      text CHECK (length(dedup_key) <= 200),
    created_at     timestamptz NOT NULL DEFAULT now(),
    dispatched_at  timestamptz,
    PRIMARY KEY (realm, id),
    CONSTRAINT events_dedup UNIQUE (realm, dedup_key)
);
CREATE INDEX events_pending ON events (id) WHERE dispatched_at IS NULL;
CREATE INDEX events_id ON events (id);

-- An inbox line: one per event and recipient.
CREATE TABLE notifications (
    realm           text NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    recipient_kind  text NOT NULL CHECK (recipient_kind IN ('resident', 'merchant', 'staff')),
    recipient_id    bigint NOT NULL,       -- 0 for the realm's staff
    event_id        bigint NOT NULL,
    type            text NOT NULL,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    read_at         timestamptz,
    PRIMARY KEY (realm, id),
    -- no foreign key to events: the dispatcher writes a line only for an event it holds
    -- locked, and a per-row check on a table that grows with postings is what it avoids
    CONSTRAINT notifications_once UNIQUE (realm, event_id, recipient_kind, recipient_id)
);
CREATE INDEX notifications_inbox ON notifications (realm, recipient_kind, recipient_id, id);
CREATE INDEX notifications_unread ON notifications (realm, recipient_kind, recipient_id) WHERE read_at IS NULL;

-- Webhooks -------------------------------------------------------------------------------

CREATE TABLE webhook_endpoints (
    realm            text NOT NULL REFERENCES realms (code),
    id               bigint GENERATED ALWAYS AS IDENTITY,
    url              text NOT NULL CHECK (url ~ '^https?://[^\s]+$' AND length(url) <= 2000),
    event_types      text[] NOT NULL,     -- empty: every type
    secret           text NOT NULL CHECK (length(secret) BETWEEN 32 AND 100),
    active           boolean NOT NULL DEFAULT true,
    idempotency_key  text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    request_hash     bytea,
    created_by       text NOT NULL CHECK (length(created_by) <= 200),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, id),
    CONSTRAINT webhook_endpoints_key UNIQUE (realm, idempotency_key)
);
CREATE INDEX webhook_endpoints_id ON webhook_endpoints (id);

-- One delivery per event and endpoint; its body is fixed when it is made (the same bytes
-- on every attempt, signed afresh with the attempt's time).
CREATE TABLE webhook_deliveries (
    realm            text NOT NULL,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    endpoint_id      bigint NOT NULL,
    event_id         bigint NOT NULL,
    event_uid        text NOT NULL,
    event_type       text NOT NULL,
    body             text NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    give_up_at       timestamptz NOT NULL,
    last_status      integer,
    last_error       text CHECK (length(last_error) <= 500),
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, id),
    CONSTRAINT webhook_deliveries_once UNIQUE (realm, endpoint_id, event_id),
    FOREIGN KEY (realm, endpoint_id) REFERENCES webhook_endpoints (realm, id)   -- events: as notifications
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (realm, endpoint_id, id);
CREATE INDEX webhook_deliveries_id ON webhook_deliveries (id);

-- Every attempt, for the delivery log.
CREATE TABLE webhook_attempts (
    realm         text NOT NULL,
    delivery_id   bigint NOT NULL,
    attempt       integer NOT NULL CHECK (attempt >= 1),
    attempted_at  timestamptz NOT NULL DEFAULT now(),
    status_code   integer,
    error         text CHECK (length(error) <= 500),
    duration_ms   integer NOT NULL CHECK (duration_ms >= 0),
    PRIMARY KEY (realm, delivery_id, attempt),
    FOREIGN KEY (realm, delivery_id) REFERENCES webhook_deliveries (realm, id)
);
SELECT pb_append_only('webhook_attempts');

GRANT SELECT ON event_types TO pointsbank_app;
-- Events are written only by the SECURITY DEFINER triggers and notify_emit(): the
-- application role cannot forge one.
GRANT SELECT ON events TO pointsbank_app;
GRANT SELECT, INSERT ON notifications, webhook_endpoints, webhook_deliveries, webhook_attempts
    TO pointsbank_app;
GRANT UPDATE (dispatched_at) ON events TO pointsbank_app;
GRANT UPDATE (read_at) ON notifications TO pointsbank_app;
GRANT UPDATE (active) ON webhook_endpoints TO pointsbank_app;
GRANT UPDATE (status, attempts, next_attempt_at, give_up_at, last_status, last_error, delivered_at)
    ON webhook_deliveries TO pointsbank_app;

-- Indicators -----------------------------------------------------------------------------

-- The counted figures a rollup keeps, and which trigger (or other package) feeds each.
CREATE TABLE indicator_metrics (
    code         text PRIMARY KEY CHECK (code ~ '^[a-z_]{2,40}$'),
    source       text NOT NULL CHECK (length(source) BETWEEN 1 AND 100),
    description  text NOT NULL CHECK (length(description) BETWEEN 1 AND 200)
);
INSERT INTO indicator_metrics (code, source, description) VALUES
    ('registered', 'residents', 'residents registered in the month'),
    ('active', 'awards', 'residents who earned at least once in the month'),
    ('awards', 'awards', 'attendance awards'),
    ('minutes', 'awards', 'minutes of attendance credited'),
    ('volunteer_minutes', 'awards', 'minutes credited for volunteering'),
    ('earned_civic', 'awards', 'civic points earned'),
    ('earned_agri', 'awards', 'agri points earned'),
    ('activities_held', 'activities', 'activities closed (held), by their station'),
    ('spent_general', 'redemptions', 'points spent at general merchants'),
    ('spent_agri_shop', 'redemptions', 'points spent at agricultural-product shops'),
    ('spent_service_provider', 'redemptions', 'points spent at service providers'),
    ('rating_activity_sum', 'feedback', 'sum of activity ratings (1-5)'),
    ('rating_activity_count', 'feedback', 'activity ratings'),
    ('rating_request_sum', 'feedback', 'sum of service-request ratings (1-5)'),
    ('rating_request_count', 'feedback', 'service-request ratings'),
    ('requests_opened', 'orders', 'service requests opened'),
    ('requests_completed', 'orders', 'service requests completed'),
    ('request_complete_s_sum', 'orders', 'seconds from opening to completion, summed');

-- Per realm, month (in the realm's time zone), station and source: one row with a column
-- per metric (its name is the metric's code), kept current by statement-level triggers in
-- the transaction of the change. A source's writers touch only its own rows, so earning
-- and redemption never wait for each other here. A report reads (realm, month) ranges:
-- stations x months x sources rows, whatever the number of postings.
CREATE TABLE indicator_rollup (
    realm                   text NOT NULL,
    month                   date NOT NULL CHECK (extract(day FROM month) = 1),
    station_id              bigint NOT NULL,
    source                  text NOT NULL CHECK (source ~ '^[a-z_]{2,40}$'),
    registered              bigint NOT NULL DEFAULT 0,
    active                  bigint NOT NULL DEFAULT 0,
    awards                  bigint NOT NULL DEFAULT 0,
    minutes                 bigint NOT NULL DEFAULT 0,
    volunteer_minutes       bigint NOT NULL DEFAULT 0,
    earned_civic            bigint NOT NULL DEFAULT 0,
    earned_agri             bigint NOT NULL DEFAULT 0,
    activities_held         bigint NOT NULL DEFAULT 0,
    spent_general           bigint NOT NULL DEFAULT 0,
    spent_agri_shop         bigint NOT NULL DEFAULT 0,
    spent_service_provider  bigint NOT NULL DEFAULT 0,
    rating_activity_sum     bigint NOT NULL DEFAULT 0,
    rating_activity_count   bigint NOT NULL DEFAULT 0,
    rating_request_sum      bigint NOT NULL DEFAULT 0,
    rating_request_count    bigint NOT NULL DEFAULT 0,
    requests_opened         bigint NOT NULL DEFAULT 0,
    requests_completed      bigint NOT NULL DEFAULT 0,
    request_complete_s_sum  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (realm, month, station_id, source)
) WITH (fillfactor = 70);  -- room for the updates to stay HOT

-- Who was active in which month (to count each resident once per month).
CREATE TABLE indicator_active (
    realm        text NOT NULL,
    resident_id  bigint NOT NULL,
    month        date NOT NULL,
    PRIMARY KEY (realm, resident_id, month)
);

GRANT SELECT ON indicator_metrics TO pointsbank_app;
-- Rollups are written only by the SECURITY DEFINER triggers and insight_rollup_add().
GRANT SELECT ON indicator_rollup, indicator_active TO pointsbank_app;

-- Recognition ----------------------------------------------------------------------------

-- Star levels by cumulative volunteer hours; a realm without rows uses the defaults of
-- the national volunteer star rating (insight.model.DEFAULT_STAR_HOURS).
CREATE TABLE star_thresholds (
    realm  text NOT NULL REFERENCES realms (code),
    level  smallint NOT NULL CHECK (level BETWEEN 1 AND 5),
    hours  integer NOT NULL CHECK (hours BETWEEN 1 AND 100000),
    PRIMARY KEY (realm, level)
);

-- The annual 文明实践之星: once per resident and year.
CREATE TABLE recognitions (
    realm            text NOT NULL REFERENCES realms (code),
    id               bigint GENERATED ALWAYS AS IDENTITY,
    resident_id      bigint NOT NULL,
    year             integer NOT NULL CHECK (year BETWEEN 2000 AND 2200),
    title            text NOT NULL DEFAULT '文明实践之星' CHECK (length(title) BETWEEN 1 AND 50),
    citation         text NOT NULL CHECK (length(citation) BETWEEN 1 AND 1000),
    idempotency_key  text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    request_hash     bytea,
    created_by       text NOT NULL CHECK (length(created_by) <= 200),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, id),
    CONSTRAINT recognitions_once_a_year UNIQUE (realm, resident_id, year, title),
    CONSTRAINT recognitions_key UNIQUE (realm, idempotency_key),
    FOREIGN KEY (realm, resident_id) REFERENCES residents (realm, id)
);
CREATE INDEX recognitions_id ON recognitions (id);
SELECT pb_append_only('recognitions');

GRANT SELECT, INSERT, UPDATE, DELETE ON star_thresholds TO pointsbank_app;
GRANT SELECT, INSERT ON recognitions TO pointsbank_app;
