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

-- A revocation is final: revoked_at is set once and never cleared or moved.
CREATE FUNCTION api_tokens_revoke_once() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at THEN
        PERFORM pb_raise('token_revoked', jsonb_build_object('token_id', OLD.id));
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER api_tokens_revoke_once BEFORE UPDATE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION api_tokens_revoke_once();

-- Every server process LISTENs on this channel and empties its token cache on a notice
-- (sent at COMMIT, whoever revoked: the API, the CLI, or SQL by hand).
CREATE FUNCTION api_tokens_notify_revoked() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pb_token_revoked', NEW.id::text);
    RETURN NULL;
END $$;
CREATE TRIGGER api_tokens_notify_revoked AFTER UPDATE OF revoked_at ON api_tokens
    FOR EACH ROW WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at)
    EXECUTE FUNCTION api_tokens_notify_revoked();

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

-- The database refuses a second claim, a claim of a locked or expired code, and any
-- change to what a code is for.
CREATE FUNCTION enrolments_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.claimed_at IS NOT NULL AND OLD.claimed_at IS NULL THEN
        IF OLD.failures >= 5 THEN
            PERFORM pb_raise('enrolment_locked', jsonb_build_object('enrolment_id', OLD.id));
        END IF;
        IF NEW.claimed_at > OLD.expires_at THEN
            PERFORM pb_raise('enrolment_expired', jsonb_build_object('enrolment_id', OLD.id));
        END IF;
    ELSIF OLD.claimed_at IS NOT NULL AND (NEW.claimed_at IS DISTINCT FROM OLD.claimed_at
                                         OR NEW.token_id IS DISTINCT FROM OLD.token_id) THEN
        PERFORM pb_raise('enrolment_claimed', jsonb_build_object('enrolment_id', OLD.id));
    END IF;
    IF NEW.failures < OLD.failures THEN
        PERFORM pb_raise('enrolment_locked', jsonb_build_object('enrolment_id', OLD.id));
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER enrolments_guard BEFORE UPDATE ON enrolments
    FOR EACH ROW EXECUTE FUNCTION enrolments_guard();

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

-- Status moves forward only: draft -> published -> closed; draft or published -> cancelled.
CREATE FUNCTION activities_status_forward() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
           (OLD.status = 'draft' AND NEW.status IN ('published', 'cancelled'))
        OR (OLD.status = 'published' AND NEW.status IN ('cancelled', 'closed'))) THEN
        PERFORM pb_raise('activity_status_invalid', jsonb_build_object(
            'activity_id', OLD.id, 'from', OLD.status, 'to', NEW.status));
    END IF;
    IF OLD.status = 'closed' AND NEW.close_summary IS DISTINCT FROM OLD.close_summary THEN
        PERFORM pb_raise('activity_closed', jsonb_build_object('activity_id', OLD.id));
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER activities_status_forward BEFORE UPDATE ON activities
    FOR EACH ROW EXECUTE FUNCTION activities_status_forward();

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

-- The activity's confirmed count follows its sign-ups; `activities_capacity` then
-- refuses any statement that would seat more than the capacity (the row update
-- serializes concurrent sign-ups).
CREATE FUNCTION activity_signups_count() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    delta integer := (NEW.status = 'confirmed')::integer
                   - (TG_OP = 'UPDATE' AND OLD.status = 'confirmed')::integer;
BEGIN
    IF delta <> 0 THEN
        UPDATE activities SET confirmed_count = confirmed_count + delta
         WHERE realm = NEW.realm AND id = NEW.activity_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER activity_signups_count AFTER INSERT OR UPDATE OF status ON activity_signups
    FOR EACH ROW EXECUTE FUNCTION activity_signups_count();

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

CREATE FUNCTION activity_checkins_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM activities a WHERE a.realm = NEW.realm AND a.id = NEW.activity_id
                                            AND a.status <> 'published') THEN
        PERFORM pb_raise('activity_not_open', jsonb_build_object('activity_id', NEW.activity_id));
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF OLD.checked_out_at IS NOT NULL THEN
            PERFORM pb_raise('already_checked_out', jsonb_build_object('resident_id', OLD.resident_id));
        END IF;
        IF NEW.checked_in_at IS DISTINCT FROM OLD.checked_in_at THEN
            PERFORM pb_raise('already_checked_in', jsonb_build_object('resident_id', OLD.resident_id));
        END IF;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER activity_checkins_guard BEFORE INSERT OR UPDATE ON activity_checkins
    FOR EACH ROW EXECUTE FUNCTION activity_checkins_guard();

GRANT SELECT, INSERT ON activity_checkins TO pointsbank_app;
GRANT UPDATE (checked_out_at, out_by) ON activity_checkins TO pointsbank_app;
