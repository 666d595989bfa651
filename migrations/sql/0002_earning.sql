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

-- An award must match its entry: an earn entry of this realm crediting the resident's
-- account of the award's asset with exactly the award's points.
CREATE FUNCTION awards_check_entry() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- from the resident's account (one index probe), not from the entry's postings
    IF NOT EXISTS (
        SELECT 1 FROM accounts a
          JOIN postings p ON p.realm = a.realm AND p.entry_id = NEW.entry_id AND p.account_id = a.id
          JOIN entries e ON e.realm = p.realm AND e.id = p.entry_id
         WHERE a.realm = NEW.realm AND a.resident_id = NEW.resident_id AND a.asset = NEW.asset
           AND a.kind = 'resident' AND e.kind = 'earn' AND p.amount = NEW.points) THEN
        PERFORM pb_raise('award_entry_mismatch', jsonb_build_object('entry_id', NEW.entry_id));
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER awards_entry_matches AFTER INSERT ON awards
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION awards_check_entry();

-- The default catalogue (the seed's scheme): talk 10, volunteering 20, training 15, any
-- other type 5, plus 2 points per full hour; 4 creditable hours; 100 points a day.
CREATE FUNCTION earning_default_catalogue(catalogue_realm text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO activity_types (realm, code, name)
    VALUES (catalogue_realm, 'talk', '宣讲'), (catalogue_realm, 'volunteering', '志愿服务'),
           (catalogue_realm, 'training', '培训'), (catalogue_realm, 'other', '其他活动')
    ON CONFLICT DO NOTHING;
    INSERT INTO activity_rules (realm, activity_type, version, asset, base_points, points_per_hour,
                                creditable_minutes_max, daily_cap_points, created_by)
    SELECT catalogue_realm, t.code, 1, 'civic', t.base, 2, 240, 100, 'default catalogue'
      FROM (VALUES ('talk', 10), ('volunteering', 20), ('training', 15), ('other', 5)) t (code, base)
    ON CONFLICT DO NOTHING;
$$;

CREATE FUNCTION realms_default_catalogue() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM earning_default_catalogue(NEW.code);
    RETURN NULL;
END $$;
CREATE TRIGGER realms_default_catalogue AFTER INSERT ON realms
    FOR EACH ROW EXECUTE FUNCTION realms_default_catalogue();
SELECT earning_default_catalogue(code) FROM realms;

-- Award a chunk of attendance records in the caller's transaction:
--   {realm, created_by, records: [{n, activity_id, resident_id, minutes}]}
-- One result per record, in order: {n, resident_id, activity_id, points, entry_id,
-- rule_version, replayed} or {n, resident_id, activity_id, error}. Set-based: the budget
-- and resident accounts are locked first in (realm, id) order, then the entries,
-- postings and awards go in with one statement each. A record refused by a rule is
-- reported and skipped; a database refusal (a floor, a balance) fails the whole chunk.
CREATE FUNCTION earning_award_chunk(request jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    chunk_realm  text := request->>'realm';
    actor        text := request->>'created_by';
    realm_tz     text;
    results      jsonb;
    entry_ids    bigint[];
    entry_refs   text[];
BEGIN
    SELECT r.timezone INTO realm_tz FROM realms r WHERE r.code = chunk_realm;
    IF NOT FOUND THEN
        PERFORM pb_raise('unknown_realm', jsonb_build_object('realm', chunk_realm));
    END IF;

    CREATE TEMP TABLE IF NOT EXISTS pg_temp.award_plan (
        n bigint, activity_id bigint, resident_id bigint, minutes bigint,
        activity_type text, rule_version int, asset text, award_day date,
        budget_id bigint, account_id bigint, computed bigint, points bigint,
        existing_entry bigint, existing_points bigint, existing_version int,
        error text, entry_group bigint, reference text, entry_id bigint) ON COMMIT DROP;
    TRUNCATE pg_temp.award_plan;

    INSERT INTO pg_temp.award_plan (n, activity_id, resident_id, minutes)
    SELECT (r->>'n')::bigint, (r->>'activity_id')::bigint, (r->>'resident_id')::bigint,
           (r->>'minutes')::bigint
      FROM jsonb_array_elements(request->'records') r;
    -- Statistics for the plan, so the look-ups below probe awards by key (nested loops)
    -- instead of hashing a realm's every award: a chunk's cost must not grow with the book.
    ANALYZE pg_temp.award_plan;

    -- Activity, its type's current rule, the budget of the rule's asset.
    UPDATE pg_temp.award_plan p
       SET activity_type = act.activity_type, rule_version = rule.version, asset = rule.asset,
           award_day = (act.starts_at AT TIME ZONE realm_tz)::date,
           budget_id = budget.id,
           computed = rule.base_points + rule.points_per_hour
                      * (least(p.minutes, rule.creditable_minutes_max) / 60),
           error = CASE WHEN act.starts_at > now() THEN 'activity_not_started' END
      FROM activities act
      JOIN LATERAL (SELECT * FROM activity_rules ar
                     WHERE ar.realm = act.realm AND ar.activity_type = act.activity_type
                     ORDER BY ar.version DESC LIMIT 1) rule ON true
      JOIN accounts budget ON budget.realm = act.realm AND budget.kind = 'budget'
                          AND budget.asset = rule.asset
     WHERE act.realm = chunk_realm AND act.id = p.activity_id;
    UPDATE pg_temp.award_plan SET error = 'unknown_activity' WHERE activity_type IS NULL;
    UPDATE pg_temp.award_plan p SET error = 'minutes_out_of_range'
      FROM activities act
     WHERE p.error IS NULL AND act.realm = chunk_realm AND act.id = p.activity_id
       AND (p.minutes IS NULL OR p.minutes < 1 OR p.minutes > 1440
            OR p.minutes > extract(epoch FROM act.ends_at - act.starts_at) / 60);
    UPDATE pg_temp.award_plan p SET error = 'duplicate_record'
      FROM (SELECT q.n, row_number() OVER (PARTITION BY q.activity_id, q.resident_id
                                           ORDER BY q.n) AS nth
              FROM pg_temp.award_plan q WHERE q.error IS NULL) seen
     WHERE p.n = seen.n AND seen.nth > 1;
    UPDATE pg_temp.award_plan p SET account_id = a.id
      FROM accounts a
     WHERE p.error IS NULL AND a.realm = chunk_realm AND a.kind = 'resident'
       AND a.resident_id = p.resident_id AND a.asset = p.asset
       AND EXISTS (SELECT 1 FROM residents res WHERE res.realm = chunk_realm AND res.id = p.resident_id);
    UPDATE pg_temp.award_plan SET error = 'unknown_resident'
     WHERE error IS NULL AND account_id IS NULL;

    -- Lock every account the chunk may post to, in (realm, id) order.
    PERFORM 1 FROM accounts a
      WHERE a.realm = chunk_realm
        AND a.id IN (SELECT budget_id FROM pg_temp.award_plan WHERE error IS NULL
                     UNION SELECT account_id FROM pg_temp.award_plan WHERE error IS NULL)
      ORDER BY a.id FOR UPDATE;

    -- Awarded before (this request's retry, another request, another organizer).
    UPDATE pg_temp.award_plan p
       SET existing_entry = aw.entry_id, existing_points = aw.points,
           existing_version = aw.rule_version
      FROM awards aw
     WHERE p.error IS NULL AND aw.realm = chunk_realm AND aw.activity_id = p.activity_id
       AND aw.resident_id = p.resident_id;

    -- Daily cap per resident and rule (activity type), on the activity's day: in row
    -- order, the cumulative award is min(cumulative computed, cap left that day).
    UPDATE pg_temp.award_plan p
       SET points = capped.points
      FROM (SELECT q.n,
                   least(sum(q.computed) OVER w, greatest(cap.left_points, 0))
                 - least(sum(q.computed) OVER w - q.computed, greatest(cap.left_points, 0))
                   AS points
              FROM pg_temp.award_plan q
              JOIN LATERAL (
                  SELECT rule.daily_cap_points - coalesce((
                      SELECT sum(aw.points) FROM awards aw
                       WHERE aw.realm = chunk_realm AND aw.resident_id = q.resident_id
                         AND aw.activity_type = q.activity_type
                         AND aw.award_day = q.award_day), 0) AS left_points
                    FROM activity_rules rule
                   WHERE rule.realm = chunk_realm AND rule.activity_type = q.activity_type
                     AND rule.version = q.rule_version
                  OFFSET 0) cap ON true  -- OFFSET 0: look the day's awards up once per row
             WHERE q.error IS NULL AND q.existing_entry IS NULL
            WINDOW w AS (PARTITION BY q.resident_id, q.activity_type, q.award_day ORDER BY q.n)
           ) capped
     WHERE p.n = capped.n;
    UPDATE pg_temp.award_plan SET error = 'daily_cap_reached'
     WHERE error IS NULL AND existing_entry IS NULL AND points <= 0;

    -- Budget: in row order, a record is paid while the cumulative total fits the balance.
    UPDATE pg_temp.award_plan p SET error = 'budget_exhausted'
      FROM (SELECT q.n, sum(q.points) OVER (PARTITION BY q.budget_id ORDER BY q.n) AS running,
                   b.balance
              FROM pg_temp.award_plan q JOIN accounts b ON b.realm = chunk_realm AND b.id = q.budget_id
             WHERE q.error IS NULL AND q.existing_entry IS NULL) paid
     WHERE p.n = paid.n AND paid.running > paid.balance;

    -- Pack the awards into earn entries: one budget posting and at most
    -- 63 resident postings each (the ledger's limit is 64 postings per entry), no
    -- account twice in one entry. The budget's row then moves once per entry, not once
    -- per award. Each award still names its one earn entry.
    UPDATE pg_temp.award_plan p SET entry_group = packed.grp
      FROM (SELECT s.n, dense_rank() OVER (ORDER BY s.budget_id, s.round, s.slot / 63) AS grp
              FROM (SELECT r.n, r.budget_id, r.round,
                           row_number() OVER (PARTITION BY r.budget_id, r.round ORDER BY r.n) - 1 AS slot
                      FROM (SELECT q.n, q.budget_id,
                                   row_number() OVER (PARTITION BY q.account_id ORDER BY q.n) AS round
                              FROM pg_temp.award_plan q
                             WHERE q.error IS NULL AND q.existing_entry IS NULL) r) s) packed
     WHERE p.n = packed.n;
    UPDATE pg_temp.award_plan p
       SET reference = 'attendance:' || first.activity_id || ':' || first.n
      FROM (SELECT DISTINCT ON (entry_group) entry_group, activity_id, n FROM pg_temp.award_plan
             WHERE entry_group IS NOT NULL ORDER BY entry_group, n) first
     WHERE p.entry_group = first.entry_group;

    -- The entries, their postings (budget -> residents), and the awards.
    WITH made AS (
        INSERT INTO entries (realm, kind, reference, memo, created_by, created_at, created_txid)
        SELECT chunk_realm, 'earn', g.reference, 'attendance', actor, now(), 0
          FROM (SELECT DISTINCT entry_group, reference FROM pg_temp.award_plan
                 WHERE entry_group IS NOT NULL) g
         ORDER BY g.entry_group
        RETURNING id, reference)
    SELECT array_agg(id), array_agg(reference) INTO entry_ids, entry_refs FROM made;

    UPDATE pg_temp.award_plan p SET entry_id = made.id
      FROM unnest(entry_ids, entry_refs) AS made (id, reference)
     WHERE p.reference = made.reference;

    INSERT INTO postings (realm, entry_id, account_id, account_seq, asset, amount,
                          balance_after, created_at)
    SELECT chunk_realm, leg.entry_id, leg.account_id, 0, leg.asset, leg.amount, 0, now()
      FROM (SELECT p.entry_group, 0 AS n, p.entry_id, p.budget_id AS account_id, p.asset,
                   -sum(p.points) AS amount
              FROM pg_temp.award_plan p WHERE p.entry_id IS NOT NULL
             GROUP BY p.entry_group, p.entry_id, p.budget_id, p.asset
            UNION ALL
            SELECT p.entry_group, p.n, p.entry_id, p.account_id, p.asset, p.points
              FROM pg_temp.award_plan p WHERE p.entry_id IS NOT NULL) leg
     ORDER BY leg.entry_group, leg.n;

    INSERT INTO awards (realm, activity_id, resident_id, entry_id, activity_type, rule_version,
                        asset, minutes, points, award_day)
    SELECT chunk_realm, p.activity_id, p.resident_id, p.entry_id, p.activity_type,
           p.rule_version, p.asset, p.minutes, p.points, p.award_day
      FROM pg_temp.award_plan p WHERE p.entry_id IS NOT NULL;

    SELECT coalesce(jsonb_agg(CASE
               WHEN p.error IS NOT NULL THEN jsonb_build_object(
                   'n', p.n, 'activity_id', p.activity_id, 'resident_id', p.resident_id,
                   'error', p.error)
               ELSE jsonb_build_object(
                   'n', p.n, 'activity_id', p.activity_id, 'resident_id', p.resident_id,
                   'asset', p.asset,
                   'points', coalesce(p.existing_points, p.points),
                   'entry_id', coalesce(p.existing_entry, p.entry_id),
                   'rule_version', coalesce(p.existing_version, p.rule_version),
                   'replayed', p.existing_entry IS NOT NULL) END ORDER BY p.n), '[]')
      INTO results FROM pg_temp.award_plan p;
    TRUNCATE pg_temp.award_plan;
    RETURN results;
END $$;

GRANT SELECT ON towns, stations, residents, activity_types, activity_rules, activities, awards,
    attendance_requests TO pointsbank_app;
GRANT INSERT ON towns, stations, residents, activity_types, activity_rules, activities, awards,
    attendance_requests TO pointsbank_app;
GRANT UPDATE (display_name, phone) ON residents TO pointsbank_app;
GRANT UPDATE (name) ON stations, towns, activity_types TO pointsbank_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO pointsbank_app;

-- An earn entry that carries awards is not reversed wholesale: its awards would then
-- claim points the ledger took back. A single award is corrected with an adjustment.
CREATE FUNCTION entries_refuse_award_reversal() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM awards a WHERE a.realm = NEW.realm AND a.entry_id = NEW.reverses_entry_id) THEN
        PERFORM pb_raise('entry_not_reversible', jsonb_build_object(
            'entry_id', NEW.reverses_entry_id,
            'reason', 'it pays attendance awards; correct one award with an adjustment'));
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER entries_refuse_award_reversal BEFORE INSERT ON entries
    FOR EACH ROW WHEN (NEW.kind = 'reversal')
    EXECUTE FUNCTION entries_refuse_award_reversal();

-- One bulk attendance request in one statement: answer a replay, award the records the
-- service accepted, merge the ones it refused, store the outcome under the key. The
-- budget's lock is taken and held (to COMMIT) inside the server, with no round trip to
-- the client in between.
--   {realm, idempotency_key, request_hash (hex), activity_id, created_by,
--    records: [{n, activity_id, resident_id, minutes}], refused: [{n, ..., error}]}
CREATE FUNCTION earning_record_attendance(request jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    request_realm text := request->>'realm';
    key           text := request->>'idempotency_key';
    first         attendance_requests;
    awarded       jsonb := '[]';
    results       jsonb;
    outcome       jsonb;
BEGIN
    SELECT * INTO first FROM attendance_requests r
     WHERE r.realm = request_realm AND r.idempotency_key = key;
    IF FOUND THEN
        RETURN jsonb_build_object('replay', true, 'request_hash', encode(first.request_hash, 'hex'),
                                  'activity_id', first.activity_id, 'outcome', first.results);
    END IF;
    IF jsonb_array_length(request->'records') > 0 THEN
        awarded := earning_award_chunk(jsonb_build_object(
            'realm', request_realm, 'created_by', request->>'created_by', 'records', request->'records'));
    END IF;
    SELECT coalesce(jsonb_agg(result ORDER BY (result->>'n')::bigint), '[]') INTO results
      FROM (SELECT value AS result FROM jsonb_array_elements(awarded)
            UNION ALL SELECT value FROM jsonb_array_elements(request->'refused')) merged;
    SELECT jsonb_build_object(
               'activity_id', (request->>'activity_id')::bigint, 'results', results,
               'awarded', count(*) FILTER (WHERE NOT r ? 'error'),
               'refused', count(*) FILTER (WHERE r ? 'error'),
               'points', coalesce(sum((r->>'points')::bigint) FILTER (WHERE NOT r ? 'error'), 0))
      INTO outcome FROM jsonb_array_elements(results) r;
    INSERT INTO attendance_requests (realm, idempotency_key, request_hash, activity_id, results, created_by)
    VALUES (request_realm, key, decode(request->>'request_hash', 'hex'), (request->>'activity_id')::bigint,
            outcome, request->>'created_by')
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN  -- a concurrent request under the same key stored its outcome first
        SELECT * INTO first FROM attendance_requests r
         WHERE r.realm = request_realm AND r.idempotency_key = key;
        RETURN jsonb_build_object('replay', true, 'request_hash', encode(first.request_hash, 'hex'),
                                  'activity_id', first.activity_id, 'outcome', first.results);
    END IF;
    RETURN jsonb_build_object('replay', false, 'outcome', outcome);
END $$;
