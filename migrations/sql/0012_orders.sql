-- The service loop (点单 order, 派单 dispatch, 接单 accept, 评单 rate) and feedback.
--
-- orders/: volunteers (skills, stations, approval), service requests and their states
-- open -> dispatched -> accepted -> done -> confirmed (decline/timeout: back to open;
-- cancel before done), idempotent steps, and the awards confirmation pays through the
-- ledger (an `earn` entry from the realm's budget, at most once per request and kind).
-- feedback/: ratings (once per rater and thing rated), running totals per subject, and
-- alerts to organizers. The functions and triggers are in orders/sql and feedback/sql.
-- Citus-ready: every table carries `realm`, every key includes it.

-- What a realm configures for the loop; no row: the defaults.
CREATE TABLE service_settings (
    realm                 text PRIMARY KEY REFERENCES realms (code),
    skills                text[] NOT NULL CHECK (cardinality(skills) BETWEEN 1 AND 30),
    rating_reward_points  bigint NOT NULL CHECK (rating_reward_points BETWEEN 0 AND 100),
    alert_ratings_min     integer NOT NULL CHECK (alert_ratings_min BETWEEN 1 AND 1000),
    updated_by            text NOT NULL CHECK (length(updated_by) <= 200),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE volunteers (
    realm         text NOT NULL,
    resident_id   bigint NOT NULL,
    skills        text[] NOT NULL CHECK (cardinality(skills) BETWEEN 1 AND 10),
    station_ids   bigint[] NOT NULL CHECK (cardinality(station_ids) BETWEEN 1 AND 20),
    availability  text CHECK (length(availability) <= 200),
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    decided_by    text CHECK (length(decided_by) <= 200),
    decided_at    timestamptz,
    open_tasks    integer NOT NULL DEFAULT 0 CHECK (open_tasks >= 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, resident_id),
    FOREIGN KEY (realm, resident_id) REFERENCES residents (realm, id)
);
CREATE INDEX volunteers_status ON volunteers (realm, status, resident_id);

-- An approved volunteer's (station, skill) pairs: what dispatch suggestions probe.
CREATE TABLE volunteer_postings (
    realm        text NOT NULL,
    station_id   bigint NOT NULL,
    skill        text NOT NULL,
    resident_id  bigint NOT NULL,
    PRIMARY KEY (realm, station_id, skill, resident_id),
    FOREIGN KEY (realm, resident_id) REFERENCES volunteers (realm, resident_id),
    FOREIGN KEY (realm, station_id) REFERENCES stations (realm, id)
);
CREATE INDEX volunteer_postings_resident ON volunteer_postings (realm, resident_id);

CREATE TABLE service_requests (
    realm            text NOT NULL REFERENCES realms (code),
    id               bigint GENERATED ALWAYS AS IDENTITY,
    requester_id     bigint NOT NULL,
    station_id       bigint NOT NULL,
    category         text NOT NULL CHECK (length(category) BETWEEN 1 AND 40),
    description      text NOT NULL CHECK (length(description) BETWEEN 1 AND 2000),
    notes            text CHECK (length(notes) <= 1000),      -- address or notes: private
    urgent           boolean NOT NULL DEFAULT false,
    wanted_from      timestamptz NOT NULL,
    wanted_until     timestamptz NOT NULL,
    state            text NOT NULL DEFAULT 'open'
                     CHECK (state IN ('open', 'dispatched', 'accepted', 'done', 'confirmed', 'cancelled')),
    volunteer_id     bigint,
    dispatched_by    text CHECK (length(dispatched_by) <= 200),
    dispatched_at    timestamptz,
    accepted_at      timestamptz,
    done_at          timestamptz,
    minutes          integer CHECK (minutes BETWEEN 1 AND 1440),
    confirmed_at     timestamptz,
    confirmed_by     text CHECK (length(confirmed_by) <= 200),
    rating           smallint CHECK (rating BETWEEN 1 AND 5),
    comment          text CHECK (length(comment) <= 500),
    queue_note       text CHECK (length(queue_note) <= 200),
    overdue          boolean NOT NULL DEFAULT false,
    created_by       text NOT NULL CHECK (length(created_by) <= 200),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, id),
    CONSTRAINT service_requests_window CHECK (wanted_until > wanted_from),
    CONSTRAINT service_requests_volunteer CHECK (
        (state IN ('dispatched', 'accepted', 'done', 'confirmed')) <= (volunteer_id IS NOT NULL)),
    CONSTRAINT service_requests_done_minutes CHECK (
        (state IN ('done', 'confirmed')) <= (minutes IS NOT NULL)),
    CONSTRAINT service_requests_not_own CHECK (volunteer_id IS DISTINCT FROM requester_id),
    FOREIGN KEY (realm, requester_id) REFERENCES residents (realm, id),
    FOREIGN KEY (realm, station_id) REFERENCES stations (realm, id),
    FOREIGN KEY (realm, volunteer_id) REFERENCES volunteers (realm, resident_id)
);
CREATE INDEX service_requests_id ON service_requests (id);
-- the queue, by key: most urgent, then oldest first (a station's, or the whole realm's)
CREATE INDEX service_requests_station_queue ON service_requests (realm, station_id, urgent DESC, created_at, id)
    WHERE state = 'open';
CREATE INDEX service_requests_realm_queue ON service_requests (realm, urgent DESC, created_at, id)
    WHERE state = 'open';
CREATE INDEX service_requests_requester ON service_requests (realm, requester_id, id);
CREATE INDEX service_requests_volunteer ON service_requests (realm, volunteer_id, id)
    WHERE volunteer_id IS NOT NULL;
-- the background jobs' look-ups
CREATE INDEX service_requests_dispatched ON service_requests (dispatched_at) WHERE state = 'dispatched';
CREATE INDEX service_requests_done ON service_requests (done_at) WHERE state = 'done';
CREATE INDEX service_requests_due ON service_requests (wanted_until)
    WHERE state IN ('open', 'dispatched', 'accepted') AND NOT overdue;

-- One step (create, dispatch, accept, decline, done, confirm, cancel) per Idempotency-Key:
-- a retry with the key replays; the same key for another step or body is refused.
CREATE TABLE service_request_steps (
    realm            text NOT NULL,
    idempotency_key  text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    request_id       bigint NOT NULL,
    step             text NOT NULL,
    request_hash     bytea NOT NULL,
    created_by       text NOT NULL CHECK (length(created_by) <= 200),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, idempotency_key),
    FOREIGN KEY (realm, request_id) REFERENCES service_requests (realm, id)
);

-- What confirming a request paid: the volunteer once, the requester once for rating.
CREATE TABLE service_awards (
    realm        text NOT NULL,
    request_id   bigint NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('volunteer', 'rating')),
    resident_id  bigint NOT NULL,
    entry_id     bigint NOT NULL,
    asset        text NOT NULL REFERENCES assets (code),
    points       bigint NOT NULL CHECK (points > 0),
    rule_version integer,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, request_id, kind),
    CONSTRAINT service_awards_entry_unique UNIQUE (realm, entry_id),
    FOREIGN KEY (realm, request_id) REFERENCES service_requests (realm, id),
    FOREIGN KEY (realm, resident_id) REFERENCES residents (realm, id),
    FOREIGN KEY (realm, entry_id) REFERENCES entries (realm, id)
);
CREATE INDEX service_awards_resident ON service_awards (realm, resident_id, request_id);

-- Feedback -------------------------------------------------------------------------

-- One rating per rater and thing rated (an activity, or a service request).
CREATE TABLE ratings (
    realm         text NOT NULL REFERENCES realms (code),
    subject_kind  text NOT NULL CHECK (subject_kind IN ('activity', 'service_request')),
    subject_id    bigint NOT NULL,
    rater_id      bigint NOT NULL,
    rating        smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment       text CHECK (length(comment) <= 500),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ratings_once PRIMARY KEY (realm, subject_kind, subject_id, rater_id),
    FOREIGN KEY (realm, rater_id) REFERENCES residents (realm, id)
);

-- Running totals per averaged subject (an activity, an activity type, an organizer, a
-- volunteer, a station); `below` remembers the side of 3 the last rating left it on, so
-- that an alert fires once per crossing.
CREATE TABLE rating_totals (
    realm         text NOT NULL REFERENCES realms (code),
    subject_kind  text NOT NULL CHECK (subject_kind IN ('activity', 'activity_type', 'organizer',
                                                        'volunteer', 'station')),
    subject_key   text NOT NULL CHECK (length(subject_key) BETWEEN 1 AND 200),
    ratings       bigint NOT NULL CHECK (ratings >= 0),
    total         bigint NOT NULL CHECK (total BETWEEN ratings AND 5 * ratings),
    below         boolean NOT NULL DEFAULT false,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, subject_kind, subject_key)
);

CREATE TABLE alerts (
    realm            text NOT NULL REFERENCES realms (code),
    id               bigint GENERATED ALWAYS AS IDENTITY,
    kind             text NOT NULL CHECK (kind IN ('average_below', 'low_rating')),
    station_id       bigint,              -- whose desk: that station's organizers and the realm's
    recipient        text CHECK (length(recipient) <= 200),   -- the organizer it names, if one
    subject_kind     text NOT NULL,
    subject_key      text NOT NULL,
    ratings          bigint NOT NULL,
    total            bigint NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    acknowledged_at  timestamptz,
    acknowledged_by  text CHECK (length(acknowledged_by) <= 200),
    PRIMARY KEY (realm, id),
    FOREIGN KEY (realm, station_id) REFERENCES stations (realm, id)
);
CREATE INDEX alerts_id ON alerts (id);
CREATE INDEX alerts_open ON alerts (realm, station_id, id) WHERE acknowledged_at IS NULL;

SELECT pb_append_only('service_awards');
SELECT pb_append_only('ratings');
SELECT pb_append_only('service_request_steps');

GRANT SELECT, INSERT, UPDATE ON service_settings TO pointsbank_app;
GRANT SELECT, INSERT ON volunteers, service_requests, service_request_steps, service_awards, ratings,
    rating_totals, alerts TO pointsbank_app;
GRANT SELECT, INSERT, DELETE ON volunteer_postings TO pointsbank_app;
GRANT UPDATE (skills, station_ids, availability, status, decided_by, decided_at, open_tasks)
    ON volunteers TO pointsbank_app;
GRANT UPDATE (state, volunteer_id, dispatched_by, dispatched_at, accepted_at, done_at, minutes,
              confirmed_at, confirmed_by, rating, comment, queue_note, overdue, updated_at)
    ON service_requests TO pointsbank_app;
GRANT UPDATE (ratings, total, below, updated_at) ON rating_totals TO pointsbank_app;
GRANT UPDATE (acknowledged_at, acknowledged_by) ON alerts TO pointsbank_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO pointsbank_app;
