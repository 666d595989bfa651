-- Since revision 0011 the functions and triggers this revision once defined live in one
-- file each under their package (`<package>/sql/`, applied by migrations/objects.py);
-- this file keeps its tables, indexes, constraints, grants and data.

-- Earning: places, residents, activity types and versioned rules, activities,
-- attendance awards, and the set-based award path.
--
-- Points enter circulation only as `earn` entries from the realm's budget account
-- (floor 0; funded by `fund` entries from the funding account). Every award is one earn
-- entry, posted through the ledger's own tables so that its triggers (cached balance,
-- floor -> budget_exhausted, entry rules, deferred balance check) all fire.
-- Citus-ready: every table carries `realm`, every key includes it.

CREATE TABLE towns (
    realm       text NOT NULL REFERENCES realms (code),
    id          bigint GENERATED ALWAYS AS IDENTITY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, id),
    CONSTRAINT towns_name_unique UNIQUE (realm, name)
);

CREATE TABLE stations (
    realm       text NOT NULL REFERENCES realms (code),
    id          bigint GENERATED ALWAYS AS IDENTITY,
    town_id     bigint NOT NULL,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    setting     text NOT NULL CHECK (setting IN ('urban', 'rural')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, id),
    CONSTRAINT stations_name_unique UNIQUE (realm, town_id, name),
    FOREIGN KEY (realm, town_id) REFERENCES towns (realm, id)
);

-- A resident is known by a pseudonymous code; name and phone are optional.
CREATE TABLE residents (
    realm         text NOT NULL REFERENCES realms (code),
    id            bigint GENERATED ALWAYS AS IDENTITY,
    station_id    bigint NOT NULL,
    code          text NOT NULL CHECK (code ~ '^[A-Za-z0-9_-]{4,40}$'),
    display_name  text CHECK (length(display_name) BETWEEN 1 AND 100),
    phone         text CHECK (phone ~ '^\+?[0-9]{5,20}$'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, id),
    CONSTRAINT residents_code_unique UNIQUE (realm, code),
    FOREIGN KEY (realm, station_id) REFERENCES stations (realm, id)
);
CREATE INDEX residents_station ON residents (realm, station_id, id);
CREATE INDEX residents_id ON residents (id);

CREATE TABLE activity_types (
    realm       text NOT NULL REFERENCES realms (code),
    code        text NOT NULL CHECK (code ~ '^[a-z][a-z0-9_]{1,39}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, code)
);

-- Versioned rules: a change is a new version; old versions stay (awards name theirs).
CREATE TABLE activity_rules (
    realm                  text NOT NULL,
    activity_type          text NOT NULL,
    version                integer NOT NULL CHECK (version >= 1),
    asset                  text NOT NULL REFERENCES assets (code),
    base_points            bigint NOT NULL CHECK (base_points BETWEEN 0 AND 10000),
    points_per_hour        bigint NOT NULL CHECK (points_per_hour BETWEEN 0 AND 1000),
    creditable_minutes_max integer NOT NULL CHECK (creditable_minutes_max BETWEEN 1 AND 1440),
    daily_cap_points       bigint NOT NULL CHECK (daily_cap_points BETWEEN 1 AND 100000),
    created_by             text NOT NULL CHECK (length(created_by) <= 200),
    created_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, activity_type, version),
    FOREIGN KEY (realm, activity_type) REFERENCES activity_types (realm, code)
);

CREATE TABLE activities (
    realm          text NOT NULL REFERENCES realms (code),
    id             bigint GENERATED ALWAYS AS IDENTITY,
    activity_type  text NOT NULL,
    station_id     bigint NOT NULL,
    title          text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL,
    created_by     text NOT NULL CHECK (length(created_by) <= 200),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, id),
    CONSTRAINT activities_end_after_start CHECK (ends_at > starts_at),
    FOREIGN KEY (realm, activity_type) REFERENCES activity_types (realm, code),
    FOREIGN KEY (realm, station_id) REFERENCES stations (realm, id)
);
CREATE INDEX activities_station ON activities (realm, station_id, id);
CREATE INDEX activities_id ON activities (id);
CREATE INDEX stations_id ON stations (id);

-- One award per resident and activity, ever; it names its earn entry (which may carry
-- the awards of up to 63 residents, each credited once) and its rule version.
CREATE TABLE awards (
    realm          text NOT NULL,
    activity_id    bigint NOT NULL,
    resident_id    bigint NOT NULL,
    entry_id       bigint NOT NULL,
    activity_type  text NOT NULL,
    rule_version   integer NOT NULL,
    asset          text NOT NULL,
    minutes        integer NOT NULL CHECK (minutes BETWEEN 1 AND 1440),
    points         bigint NOT NULL CHECK (points > 0),
    award_day      date NOT NULL,   -- the activity's day in the realm's time zone
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, activity_id, resident_id),
    CONSTRAINT awards_entry_resident_unique UNIQUE (realm, entry_id, resident_id),
    FOREIGN KEY (realm, activity_id) REFERENCES activities (realm, id),
    FOREIGN KEY (realm, resident_id) REFERENCES residents (realm, id),
    FOREIGN KEY (realm, entry_id) REFERENCES entries (realm, id),
    FOREIGN KEY (realm, activity_type, rule_version)
        REFERENCES activity_rules (realm, activity_type, version)
);
CREATE INDEX awards_resident_day ON awards (realm, resident_id, activity_type, award_day);
-- Leaderboards read awards by day. A BRIN index (awards arrive roughly in day order) so
-- that the planner never prefers it over awards_resident_day for a cap look-up.
CREATE INDEX awards_day ON awards USING brin (award_day);
CREATE INDEX awards_resident_entry ON awards (realm, resident_id, entry_id);

-- A bulk attendance request under an Idempotency-Key: its first results, replayed.
CREATE TABLE attendance_requests (
    realm            text NOT NULL,
    idempotency_key  text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    request_hash     bytea NOT NULL,
    activity_id      bigint NOT NULL,
    results          jsonb NOT NULL,
    created_by       text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, idempotency_key),
    FOREIGN KEY (realm, activity_id) REFERENCES activities (realm, id)
);

-- Awards, rules and replayable results are history: never changed.
SELECT pb_append_only('awards');
SELECT pb_append_only('activity_rules');
SELECT pb_append_only('attendance_requests');

SELECT earning_default_catalogue(code) FROM realms;

GRANT SELECT ON towns, stations, residents, activity_types, activity_rules, activities, awards,
    attendance_requests TO pointsbank_app;
GRANT INSERT ON towns, stations, residents, activity_types, activity_rules, activities, awards,
    attendance_requests TO pointsbank_app;
GRANT UPDATE (display_name, phone) ON residents TO pointsbank_app;
GRANT UPDATE (name) ON stations, towns, activity_types TO pointsbank_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO pointsbank_app;

