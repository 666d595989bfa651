-- Award a chunk of attendance records in the caller's transaction:
--   {realm, created_by, records: [{n, activity_id, resident_id, minutes}]}
-- One result per record, in order: {n, resident_id, activity_id, points, entry_id,
-- rule_version, replayed} or {n, resident_id, activity_id, error}. Set-based: the budget
-- and resident accounts are locked first in (realm, id) order, then the entries,
-- postings and awards go in with one statement each. A record refused by a rule is
-- reported and skipped; a database refusal (a floor, a balance) fails the whole chunk.
-- Activities, budgets, residents' accounts, earlier awards and the accounts to lock are
-- each probed by key.
CREATE OR REPLACE FUNCTION earning_award_chunk(request jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    chunk_realm  text := request->>'realm';
    actor        text := request->>'created_by';
    realm_tz     text;
    results      jsonb;
    entry_ids    bigint[];
    entry_refs   text[];
    lock_realms  text[];
    lock_ids     bigint[];
    line_realms  text[];
    line_entries bigint[];
    line_accounts bigint[];
    line_amounts bigint[];
BEGIN
    SELECT r.timezone INTO realm_tz FROM realms r WHERE r.code = chunk_realm;
    IF NOT FOUND THEN
        PERFORM pb_raise('unknown_realm', jsonb_build_object('realm', chunk_realm));
    END IF;

    CREATE TEMP TABLE IF NOT EXISTS pg_temp.award_plan (
        n bigint, activity_id bigint, resident_id bigint, minutes bigint,
        activity_type text, rule_version int, asset text, award_day date,
        budget_id bigint, account_id bigint, computed bigint, cap_left bigint, points bigint,
        existing_entry bigint, existing_points bigint, existing_version int,
        error text, entry_group bigint, reference text, entry_id bigint) ON COMMIT DROP;
    TRUNCATE pg_temp.award_plan;

    INSERT INTO pg_temp.award_plan (n, activity_id, resident_id, minutes)
    SELECT (r->>'n')::bigint, (r->>'activity_id')::bigint, (r->>'resident_id')::bigint,
           (r->>'minutes')::bigint
      FROM jsonb_array_elements(request->'records') r;
    -- Statistics for the joins within the plan. Every look-up of a book's table below
    -- is a LATERAL key probe per plan row (or per distinct key), whatever these say: a
    -- chunk's cost must not grow with the book.
    ANALYZE pg_temp.award_plan;

    -- Activity, its type's current rule, the budget of the rule's asset: once per activity.
    UPDATE pg_temp.award_plan p
       SET activity_type = found.activity_type, rule_version = found.version, asset = found.asset,
           award_day = (found.starts_at AT TIME ZONE realm_tz)::date,
           budget_id = found.budget_id,
           computed = found.base_points + found.points_per_hour
                      * (least(p.minutes, found.creditable_minutes_max) / 60),
           error = CASE WHEN found.starts_at > now() THEN 'activity_not_started' END
      FROM (SELECT q.activity_id, act.activity_type, act.starts_at, rule.version, rule.asset,
                   rule.base_points, rule.points_per_hour, rule.creditable_minutes_max,
                   budget.id AS budget_id
              FROM (SELECT DISTINCT activity_id FROM pg_temp.award_plan) q
             CROSS JOIN LATERAL (SELECT a.activity_type, a.starts_at FROM activities a
                                  WHERE a.realm = chunk_realm AND a.id = q.activity_id LIMIT 1) act
             CROSS JOIN LATERAL (SELECT * FROM activity_rules ar
                                  WHERE ar.realm = chunk_realm AND ar.activity_type = act.activity_type
                                  ORDER BY ar.version DESC LIMIT 1) rule
             CROSS JOIN LATERAL (SELECT b.id FROM accounts b
                                  WHERE b.realm = chunk_realm AND b.kind = 'budget' AND b.asset = rule.asset
                                  LIMIT 1) budget) found
     WHERE p.activity_id = found.activity_id;
    UPDATE pg_temp.award_plan SET error = 'unknown_activity' WHERE activity_type IS NULL;
    UPDATE pg_temp.award_plan p SET error = 'minutes_out_of_range'
      FROM activities act
     WHERE p.error IS NULL AND act.realm = chunk_realm AND act.id = p.activity_id
       AND (p.minutes IS NULL OR p.minutes < 1 OR p.minutes > earning_minutes_per_record_max()
            OR p.minutes > extract(epoch FROM act.ends_at - act.starts_at) / 60);
    UPDATE pg_temp.award_plan p SET error = 'duplicate_record'
      FROM (SELECT q.n, row_number() OVER (PARTITION BY q.activity_id, q.resident_id
                                           ORDER BY q.n) AS nth
              FROM pg_temp.award_plan q WHERE q.error IS NULL) seen
     WHERE p.n = seen.n AND seen.nth > 1;
    UPDATE pg_temp.award_plan p SET account_id = found.id
      FROM (SELECT q.n, a.id FROM pg_temp.award_plan q
             CROSS JOIN LATERAL (SELECT a.id FROM accounts a
                                  WHERE a.realm = chunk_realm AND a.kind = 'resident'
                                    AND a.resident_id = q.resident_id AND a.asset = q.asset
                                    AND EXISTS (SELECT 1 FROM residents res
                                                 WHERE res.realm = chunk_realm AND res.id = q.resident_id)
                                  LIMIT 1) a
             WHERE q.error IS NULL) found
     WHERE p.n = found.n;
    UPDATE pg_temp.award_plan SET error = 'unknown_resident'
     WHERE error IS NULL AND account_id IS NULL;

    -- Lock every account the chunk may post to, in (realm, id) order, one probe each.
    SELECT array_agg(ids.id), array_agg(chunk_realm) INTO lock_ids, lock_realms
      FROM (SELECT budget_id AS id FROM pg_temp.award_plan WHERE error IS NULL
            UNION SELECT account_id FROM pg_temp.award_plan WHERE error IS NULL) ids;
    PERFORM 1 FROM ledger_lock_accounts(lock_realms, lock_ids);

    -- Awarded before (this request's retry, another request, another organizer).
    UPDATE pg_temp.award_plan p
       SET existing_entry = aw.entry_id, existing_points = aw.points,
           existing_version = aw.rule_version
      FROM (SELECT q.n, aw.entry_id, aw.points, aw.rule_version FROM pg_temp.award_plan q
             CROSS JOIN LATERAL (SELECT aw.entry_id, aw.points, aw.rule_version FROM awards aw
                                  WHERE aw.realm = chunk_realm AND aw.activity_id = q.activity_id
                                    AND aw.resident_id = q.resident_id LIMIT 1) aw
             WHERE q.error IS NULL) aw
     WHERE p.n = aw.n;

    -- A record the rule gives nothing (no base points, less than a full hour).
    UPDATE pg_temp.award_plan SET error = 'no_points_earned'
     WHERE error IS NULL AND existing_entry IS NULL AND computed <= 0;

    -- Daily cap per resident and rule (activity type), on the activity's day: in row
    -- order, the cumulative award is min(cumulative computed, cap left that day before
    -- the chunk: attendance and service awards, earning_earned_on_day).
    UPDATE pg_temp.award_plan p
       SET points = capped.points, cap_left = capped.cap_left
      FROM (SELECT q.n, cap.left_points AS cap_left,
                   least(sum(q.computed) OVER w, greatest(cap.left_points, 0))
                 - least(sum(q.computed) OVER w - q.computed, greatest(cap.left_points, 0))
                   AS points
              FROM pg_temp.award_plan q
              JOIN LATERAL (
                  SELECT rule.daily_cap_points
                       - earning_earned_on_day(chunk_realm, q.resident_id, q.activity_type, q.award_day)
                         AS left_points
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
              FROM pg_temp.award_plan q
              JOIN (SELECT d.budget_id, b.balance
                      FROM (SELECT DISTINCT budget_id FROM pg_temp.award_plan WHERE error IS NULL) d
                     CROSS JOIN LATERAL (SELECT b.balance FROM accounts b
                                          WHERE b.realm = chunk_realm AND b.id = d.budget_id LIMIT 1) b
                   ) b ON b.budget_id = q.budget_id
             WHERE q.error IS NULL AND q.existing_entry IS NULL) paid
     WHERE p.n = paid.n AND paid.running > paid.balance;
    -- A record the budget refused was paid nothing, so it takes nothing of the cap. No
    -- record of a budget is paid after its first refusal, and those before it that the
    -- cap let through were all paid: a later record that the cap refused is
    -- budget_exhausted if its day's cap is not reached by what was paid.
    UPDATE pg_temp.award_plan p SET error = 'budget_exhausted'
      FROM (SELECT q.n FROM pg_temp.award_plan q
              JOIN (SELECT budget_id, min(n) AS first_n FROM pg_temp.award_plan
                     WHERE error = 'budget_exhausted' GROUP BY budget_id) refused
                ON refused.budget_id = q.budget_id AND q.n > refused.first_n
              LEFT JOIN (SELECT resident_id, activity_type, award_day, sum(points) AS points
                           FROM pg_temp.award_plan WHERE error IS NULL AND existing_entry IS NULL
                          GROUP BY resident_id, activity_type, award_day) paid
                ON (paid.resident_id, paid.activity_type, paid.award_day)
                   = (q.resident_id, q.activity_type, q.award_day)
             WHERE q.error = 'daily_cap_reached' AND q.cap_left > coalesce(paid.points, 0)) freed
     WHERE p.n = freed.n;

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

    -- The postings, entry after entry (the budget's first), through the one writer: each
    -- account's continue its history in entry order (an account appears at most once
    -- per entry).
    SELECT array_agg(chunk_realm), array_agg(leg.entry_id ORDER BY leg.entry_group, leg.n),
           array_agg(leg.account_id ORDER BY leg.entry_group, leg.n),
           array_agg(leg.amount ORDER BY leg.entry_group, leg.n)
      INTO line_realms, line_entries, line_accounts, line_amounts
      FROM (SELECT p.entry_group, 0 AS n, p.entry_id, p.budget_id AS account_id, -sum(p.points) AS amount
              FROM pg_temp.award_plan p WHERE p.entry_id IS NOT NULL
             GROUP BY p.entry_group, p.entry_id, p.budget_id
            UNION ALL
            SELECT p.entry_group, p.n, p.entry_id, p.account_id, p.points
              FROM pg_temp.award_plan p WHERE p.entry_id IS NOT NULL) leg;
    PERFORM 1 FROM ledger_write_postings(line_realms, line_entries, line_accounts, line_amounts);

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
