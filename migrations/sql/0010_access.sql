-- Since revision 0011 the functions and triggers this revision once defined live in one
-- file each under their package (`<package>/sql/`, applied by migrations/objects.py);
-- this file keeps its tables, indexes, constraints, grants and data.

-- People in: enrolment codes and device tokens (access/), activities residents see and
-- join, check-in at the venue and closing an activity (earning/).
--
-- Enrolments and tokens are reference tables like api_tokens (a claim names no realm);
-- per-realm tables carry `realm` in every key (Citus).

-- Tokens ---------------------------------------------------------------------------

ALTER TABLE api_tokens
    ADD COLUMN kind          text NOT NULL DEFAULT 'api' CHECK (kind IN ('api', 'device')),
    ADD COLUMN expires_at    timestamptz,          -- NULL: never (bootstrap tokens)
    ADD COLUMN last_used_at  timestamptz,
    ADD COLUMN revoked_by    text CHECK (length(revoked_by) <= 200);
CREATE INDEX api_tokens_realm_resident ON api_tokens (realm, resident_id) WHERE resident_id IS NOT NULL;

GRANT UPDATE (expires_at, last_used_at, revoked_by) ON api_tokens TO pointsbank_app;

-- Enrolment codes: a selector (public, unique) and a secret; only the hash of the
-- whole code is stored. Claimed once, before expiry, never after five failures.
CREATE TABLE enrolments (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    realm        text NOT NULL REFERENCES realms (code),
    role         text NOT NULL CHECK (role IN ('admin', 'organizer', 'merchant', 'auditor', 'resident')),
    station_id   bigint,
    merchant_id  bigint,
    resident_id  bigint,
    selector     text NOT NULL CHECK (selector ~ '^[2-9A-HJKMNP-Z]{5}$'),
    code_hash    bytea NOT NULL CHECK (length(code_hash) = 32),
    label        text CHECK (length(label) <= 200),
    created_by   text NOT NULL CHECK (length(created_by) <= 200),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    failures     integer NOT NULL DEFAULT 0 CHECK (failures BETWEEN 0 AND 5),
    claimed_at   timestamptz,
    token_id     bigint REFERENCES api_tokens (id),
    CONSTRAINT enrolments_selector_unique UNIQUE (selector),
    CONSTRAINT enrolments_claim_names_token CHECK ((claimed_at IS NULL) = (token_id IS NULL)),
    CONSTRAINT enrolments_scope CHECK (
        (role <> 'merchant' OR merchant_id IS NOT NULL)
        AND (role <> 'resident' OR resident_id IS NOT NULL)
        AND (role <> 'organizer' OR station_id IS NOT NULL))
);
CREATE INDEX enrolments_realm ON enrolments (realm, id);

-- Failed claims per client address (the per-address limit counts these).
CREATE TABLE enrolment_claim_failures (
    client     text NOT NULL CHECK (length(client) <= 100),
    failed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX enrolment_claim_failures_client ON enrolment_claim_failures (client, failed_at);

GRANT SELECT, INSERT ON enrolments, enrolment_claim_failures TO pointsbank_app;
GRANT UPDATE (failures, claimed_at, token_id) ON enrolments TO pointsbank_app;
GRANT DELETE ON enrolment_claim_failures TO pointsbank_app;

-- Per-realm secrets (the check-in codes' HMAC key): made by the service at first use,
-- never in the repository, never changed.
CREATE TABLE realm_secrets (
    realm       text NOT NULL REFERENCES realms (code),
    purpose     text NOT NULL CHECK (purpose ~ '^[a-z_]{1,40}$'),
    secret      bytea NOT NULL CHECK (length(secret) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, purpose)
);
SELECT pb_append_only('realm_secrets');
GRANT SELECT, INSERT ON realm_secrets TO pointsbank_app;

-- Activities residents see and join ---------------------------------------------------

ALTER TABLE activities
    ADD COLUMN place             text CHECK (length(place) BETWEEN 1 AND 200),
    ADD COLUMN description       text CHECK (length(description) <= 4000),
    ADD COLUMN capacity          integer CHECK (capacity BETWEEN 1 AND 100000),
    ADD COLUMN signup_opens_at   timestamptz,
    ADD COLUMN signup_closes_at  timestamptz,
    ADD COLUMN status            text NOT NULL DEFAULT 'published'
                                 CHECK (status IN ('draft', 'published', 'cancelled', 'closed')),
    ADD COLUMN confirmed_count   integer NOT NULL DEFAULT 0 CHECK (confirmed_count >= 0),
    ADD COLUMN closed_at         timestamptz,
    ADD COLUMN close_summary     jsonb,
    ADD CONSTRAINT activities_capacity CHECK (capacity IS NULL OR confirmed_count <= capacity),
    ADD CONSTRAINT activities_signup_window CHECK (
        signup_opens_at IS NULL OR signup_closes_at IS NULL OR signup_opens_at < signup_closes_at),
    ADD CONSTRAINT activities_closed_summary CHECK ((status = 'closed') = (closed_at IS NOT NULL));
CREATE INDEX activities_upcoming ON activities (realm, ends_at) WHERE status = 'published';
CREATE INDEX activities_to_close ON activities (ends_at) WHERE status = 'published';

GRANT UPDATE (place, description, capacity, signup_opens_at, signup_closes_at, status,
              confirmed_count, closed_at, close_summary) ON activities TO pointsbank_app;

-- Sign-ups: confirmed (within capacity), waitlisted (in `position` order), cancelled.
CREATE SEQUENCE activity_signup_positions;
CREATE TABLE activity_signups (
    realm        text NOT NULL,
    activity_id  bigint NOT NULL,
    resident_id  bigint NOT NULL,
    status       text NOT NULL CHECK (status IN ('confirmed', 'waitlisted', 'cancelled')),
    position     bigint NOT NULL DEFAULT nextval('activity_signup_positions'),
    created_by   text NOT NULL CHECK (length(created_by) <= 200),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, activity_id, resident_id),
    FOREIGN KEY (realm, activity_id) REFERENCES activities (realm, id),
    FOREIGN KEY (realm, resident_id) REFERENCES residents (realm, id)
);
CREATE INDEX activity_signups_queue ON activity_signups (realm, activity_id, status, position);
CREATE INDEX activity_signups_resident ON activity_signups (realm, resident_id);

GRANT SELECT, INSERT ON activity_signups TO pointsbank_app;
GRANT UPDATE (status, position, updated_at, created_by) ON activity_signups TO pointsbank_app;
GRANT USAGE ON SEQUENCE activity_signup_positions TO pointsbank_app;

-- Check-ins: in once, out once (after in), nothing after the activity is closed.
CREATE TABLE activity_checkins (
    realm           text NOT NULL,
    activity_id     bigint NOT NULL,
    resident_id     bigint NOT NULL,
    checked_in_at   timestamptz NOT NULL,
    checked_out_at  timestamptz,
    in_by           text NOT NULL CHECK (length(in_by) <= 200),
    out_by          text CHECK (length(out_by) <= 200),
    PRIMARY KEY (realm, activity_id, resident_id),
    CONSTRAINT activity_checkins_out_after_in CHECK (checked_out_at IS NULL OR checked_out_at >= checked_in_at),
    FOREIGN KEY (realm, activity_id) REFERENCES activities (realm, id),
    FOREIGN KEY (realm, resident_id) REFERENCES residents (realm, id)
);

GRANT SELECT, INSERT ON activity_checkins TO pointsbank_app;
GRANT UPDATE (checked_out_at, out_by) ON activity_checkins TO pointsbank_app;
