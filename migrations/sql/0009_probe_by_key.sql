-- Probe by key: no statement on a write path reads a whole table that grows with the
-- book (accounts, residents, entries, postings, vouchers, awards, sealed leaves).
--
-- Why: group commit's batch read every row of `accounts` once per batch (a hash join
-- planned from a JSON array the planner guesses at 100 x 100 rows), so writes slowed as
-- residents were added, in any realm (issue 20). The same could happen wherever a small
-- set (a JSON array, a transition table, the attendance plan) meets a big table: the
-- planner's estimate of the small side decides between probing the big one by key and
-- hashing all of it, and a transition table's estimate is whatever the statement that
-- first planned it held.
--
-- How: each look-up of a big table from a small set is a LATERAL subquery with LIMIT 1
-- (or FOR UPDATE) on the big table's key: it cannot be flattened into a join, so it runs
-- once per row of the small side, as one index probe, whatever the estimates. The
-- posting trigger's UPDATE of accounts cannot be LATERAL; it names its rows with
-- `id = ANY (ARRAY(subquery))` on accounts' id index, an array the planner cannot size.
-- tests/integration/test_no_scans.py checks every write path against a 50,000-resident
-- book. Same function names and behaviour; only the plans change.

-- The posting check (as in 0006): entries and accounts probed per posting.
CREATE OR REPLACE FUNCTION postings_apply() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    problem   record;
    account   record;
BEGIN
    -- Each posting: an entry of this transaction, at its time, on an account of its
    -- asset, in a direction the entry's kind allows for the account's kind.
    SELECT p.entry_id, p.account_id, p.amount, e.kind AS entry_kind, a.kind AS account_kind,
           CASE WHEN e.id IS NULL THEN 'unknown_entry'
                WHEN e.created_txid <> txid_current() THEN 'entry_closed'
                WHEN a.id IS NULL THEN 'unknown_account'
                WHEN p.asset <> a.asset THEN 'asset_mismatch'
                WHEN p.created_at <> e.created_at THEN 'posting_time_mismatch'
                ELSE 'posting_not_allowed' END AS code
      INTO problem
      FROM added p
      LEFT JOIN LATERAL (SELECT e.id, e.kind, e.created_txid, e.created_at FROM entries e
                          WHERE e.realm = p.realm AND e.id = p.entry_id LIMIT 1) e ON true
      LEFT JOIN LATERAL (SELECT a.id, a.kind, a.asset FROM accounts a
                          WHERE a.realm = p.realm AND a.id = p.account_id LIMIT 1) a ON true
     WHERE e.id IS NULL OR e.created_txid <> txid_current() OR a.id IS NULL
        OR p.asset <> a.asset OR p.created_at <> e.created_at
        OR (e.kind <> 'reversal' AND NOT EXISTS (
               SELECT 1 FROM entry_rules r
                WHERE r.entry_kind = e.kind AND r.account_kind = a.kind
                  AND r.direction = sign(p.amount)))
     LIMIT 1;
    IF FOUND THEN
        PERFORM pb_raise(problem.code, jsonb_build_object(
            'entry_id', problem.entry_id, 'account_id', problem.account_id, 'amount', problem.amount,
            'entry_kind', problem.entry_kind, 'account_kind', problem.account_kind));
    END IF;

    -- Per account, in account_seq order: the sequence continues the account's own with
    -- no gap, and each running balance is the one before plus the amount; none is below
    -- the floor. The cached balance moves by the statement's total in one UPDATE, which
    -- reads the newest row version: a writer that did not hold the lock cannot slip by.
    -- The UPDATE finds its rows through accounts' id index, from an array the planner
    -- cannot size (so never by reading every account, whatever it thinks `added` holds).
    WITH chained AS (
        SELECT p.realm, p.account_id, p.account_seq, p.amount, p.balance_after,
               first_value(p.balance_after - p.amount) OVER w AS opening,
               first_value(p.account_seq) OVER w AS first_seq,
               sum(p.amount) OVER w AS moved,
               row_number() OVER w AS nth
          FROM added p
        WINDOW w AS (PARTITION BY p.realm, p.account_id ORDER BY p.account_seq)),
    per_account AS (
        SELECT c.realm, c.account_id, min(c.opening) AS opening, min(c.first_seq) - 1 AS opening_count,
               count(*) AS postings, sum(c.amount) AS total, min(c.balance_after) AS lowest,
               bool_and(c.balance_after = c.opening + c.moved
                        AND c.account_seq = c.first_seq + c.nth - 1) AS chained
          FROM chained c GROUP BY c.realm, c.account_id),
    applied AS (
        UPDATE accounts a
           SET balance = a.balance + m.total, posting_count = a.posting_count + m.postings
          FROM per_account m
         WHERE a.id = ANY (ARRAY(SELECT k.account_id FROM per_account k))
           AND a.realm = m.realm AND a.id = m.account_id AND (a.floor IS NULL OR m.lowest >= a.floor)
        RETURNING a.id, a.balance - m.total AS balance, a.posting_count - m.postings AS posting_count,
                  m.opening, m.opening_count,
                  m.chained AND a.posting_count - m.postings = m.opening_count
                            AND a.balance - m.total = m.opening AS chain_holds)
    SELECT (SELECT count(*) FROM per_account) - count(*) AS below_floor,
           (jsonb_agg(jsonb_build_object(
                'account_id', ap.id, 'posting_count', ap.posting_count, 'balance', ap.balance,
                'first_seq', ap.opening_count + 1, 'opening_balance', ap.opening) ORDER BY ap.id)
                FILTER (WHERE NOT ap.chain_holds))->0 AS broken
      INTO problem FROM applied ap;
    IF problem.broken IS NOT NULL THEN
        PERFORM pb_raise('posting_chain_broken', problem.broken);
    END IF;
    IF problem.below_floor > 0 THEN
        SELECT p.account_id, a.kind, a.balance, a.floor, sum(p.amount) AS amount INTO account
          FROM added p
          JOIN LATERAL (SELECT a.kind, a.balance, a.floor FROM accounts a
                         WHERE a.realm = p.realm AND a.id = p.account_id LIMIT 1) a ON true
         GROUP BY p.account_id, a.kind, a.balance, a.floor
        HAVING min(p.balance_after) < a.floor
         ORDER BY p.account_id LIMIT 1;
        PERFORM pb_raise(CASE WHEN account.kind = 'budget' THEN 'budget_exhausted'
                              ELSE 'insufficient_points' END,
                         jsonb_build_object('account_id', account.account_id, 'balance', account.balance,
                                            'floor', account.floor, 'amount', account.amount));
    END IF;
    RETURN NULL;
END $$;

-- Group commit: lock every account a batch names, in (realm, id) order, one key probe
-- each (the sorted subquery drives the probes). Was a join that the planner, guessing
-- the JSON at 100 x 100 lines, made a hash of the whole accounts table.
CREATE FUNCTION ledger_lock_batch_accounts(requests jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1
       FROM (SELECT DISTINCT r->>'realm' AS realm, (l->>'account_id')::bigint AS id
               FROM jsonb_array_elements(requests) r,
                    jsonb_array_elements(r->'postings') l
              ORDER BY 1, 2) wanted
      CROSS JOIN LATERAL (SELECT 1 FROM accounts a WHERE a.realm = wanted.realm AND a.id = wanted.id
                           FOR UPDATE) locked;
END $$;

-- Group commit (as in 0007), locking through the function above.
CREATE OR REPLACE FUNCTION ledger_post_batch(requests jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    together jsonb;
BEGIN
    PERFORM ledger_lock_batch_accounts(requests);
    IF jsonb_array_length(requests) > 1 THEN
        BEGIN
            together := ledger_post_together(requests);
        EXCEPTION WHEN raise_exception OR integrity_constraint_violation OR data_exception THEN
            together := NULL;  -- the book refused something: one entry at a time names it
        END;
    END IF;
    RETURN coalesce(together, ledger_post_each(requests));  -- its locks are ours already
END $$;

-- One entry at a time (0001's batch, renamed in 0007), locking through the function
-- above: each item in its own subtransaction, a refusal reported by code.
CREATE OR REPLACE FUNCTION ledger_post_each(requests jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    request    jsonb;
    results    jsonb[] := '{}';
    message    text;
    detail     text;
    constraint_name text;
BEGIN
    PERFORM ledger_lock_batch_accounts(requests);

    FOR request IN SELECT value FROM jsonb_array_elements(requests) LOOP
        BEGIN
            results := results || ledger_post_entry(request);
        EXCEPTION
            WHEN raise_exception THEN
                GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
                results := results || jsonb_build_object('error', message,
                                                         'detail', coalesce(detail, '{}')::jsonb);
            WHEN unique_violation OR check_violation OR foreign_key_violation
                 OR not_null_violation OR invalid_text_representation
                 OR numeric_value_out_of_range THEN
                GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, constraint_name = CONSTRAINT_NAME;
                results := results || jsonb_build_object(
                    'error', 'constraint_violation',
                    'detail', jsonb_build_object('constraint', constraint_name, 'message', message));
        END;
    END LOOP;
    RETURN to_jsonb(results);
END $$;

-- A batch posted together (as in 0007): keys and accounts probed per request and line.
CREATE OR REPLACE FUNCTION ledger_post_together(requests jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    line_n        bigint[];
    line_realm    text[];
    line_account  bigint[];
    line_amount   bigint[];
    line_asset    text[];
    line_seq      bigint[];
    line_balance  bigint[];
    entry_ids     bigint[];
    entry_times   timestamptz[];
    ordinary      boolean;
BEGIN
    -- Only new entries of ordinary kinds, each key once, at least two lines each.
    SELECT bool_and(coalesce(r->>'kind' <> 'reversal' AND r->>'reverses_entry_id' IS NULL
                             AND jsonb_array_length(r->'postings') >= 2, false))
           AND count(DISTINCT (r->>'realm', r->>'idempotency_key'))
               FILTER (WHERE r->>'idempotency_key' IS NOT NULL)
             = count(*) FILTER (WHERE r->>'idempotency_key' IS NOT NULL)
           AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(requests) k
                            CROSS JOIN LATERAL (SELECT 1 FROM entries e
                                                 WHERE e.realm = k->>'realm'
                                                   AND e.idempotency_key = k->>'idempotency_key'
                                                 LIMIT 1) used)
      INTO ordinary FROM jsonb_array_elements(requests) r;
    IF NOT coalesce(ordinary, false) THEN
        RETURN NULL;
    END IF;

    -- Every line on a known account of the entry's realm, each account once per entry,
    -- non-zero; the running balances and history places, entry after entry.
    WITH lines AS (
        SELECT i.n, i.r->>'realm' AS realm, (l->>'account_id')::bigint AS account_id,
               (l->>'amount')::bigint AS amount
          FROM jsonb_array_elements(requests) WITH ORDINALITY AS i (r, n),
               jsonb_array_elements(i.r->'postings') l),
    placed AS (
        SELECT l.n, l.realm, l.account_id, l.amount, a.asset, a.floor, a.id IS NULL AS unknown,
               a.posting_count + row_number() OVER w AS account_seq,
               a.balance + sum(l.amount) OVER w AS balance_after
          FROM lines l
          LEFT JOIN LATERAL (SELECT a.id, a.asset, a.floor, a.posting_count, a.balance FROM accounts a
                              WHERE a.realm = l.realm AND a.id = l.account_id LIMIT 1) a ON true
        WINDOW w AS (PARTITION BY l.realm, l.account_id ORDER BY l.n))
    SELECT array_agg(n ORDER BY n, account_id), array_agg(realm ORDER BY n, account_id),
           array_agg(account_id ORDER BY n, account_id), array_agg(amount ORDER BY n, account_id),
           array_agg(asset ORDER BY n, account_id), array_agg(account_seq ORDER BY n, account_id),
           array_agg(balance_after ORDER BY n, account_id),
           bool_and(coalesce(NOT unknown AND amount <> 0 AND (floor IS NULL OR balance_after >= floor),
                             false))
           AND count(DISTINCT (n, account_id)) = count(*)
      INTO line_n, line_realm, line_account, line_amount, line_asset, line_seq, line_balance, ordinary
      FROM placed;
    IF NOT coalesce(ordinary, false) OR EXISTS (
        SELECT 1 FROM unnest(line_n, line_asset, line_amount) AS l (n, asset, amount)
         GROUP BY l.n, l.asset HAVING sum(l.amount) <> 0) THEN
        RETURN NULL;
    END IF;

    -- The entries, in request order: ids are drawn in insertion order, so the sorted ids
    -- are the requests' ids in turn.
    WITH made AS (
        INSERT INTO entries (realm, kind, idempotency_key, request_hash, reference, memo,
                             created_by, created_at, created_txid)
        SELECT i.r->>'realm', i.r->>'kind', i.r->>'idempotency_key',
               decode(i.r->>'request_hash', 'hex'), i.r->>'reference', i.r->>'memo',
               i.r->>'created_by', now(), 0
          FROM jsonb_array_elements(requests) WITH ORDINALITY AS i (r, n)
         ORDER BY i.n
        RETURNING id, created_at)
    SELECT array_agg(id ORDER BY id), array_agg(created_at ORDER BY id)
      INTO entry_ids, entry_times FROM made;

    INSERT INTO postings (realm, entry_id, account_id, account_seq, asset, amount,
                          balance_after, created_at)
    SELECT l.realm, entry_ids[l.n], l.account_id, l.seq, l.asset, l.amount, l.balance,
           entry_times[l.n]
      FROM unnest(line_n, line_realm, line_account, line_amount, line_asset, line_seq, line_balance)
           AS l (n, realm, account_id, amount, asset, seq, balance);

    SELECT jsonb_agg(jsonb_build_object(
               'realm', i.r->>'realm', 'id', entry_ids[i.n], 'kind', i.r->>'kind',
               'reverses_entry_id', NULL, 'reference', i.r->>'reference', 'memo', i.r->>'memo',
               'created_by', i.r->>'created_by', 'created_at', entry_times[i.n],
               'postings', (SELECT jsonb_agg(jsonb_build_object(
                                'account_id', l.account_id, 'asset', l.asset, 'amount', l.amount,
                                'balance_after', l.balance) ORDER BY l.account_id)
                              FROM unnest(line_n, line_account, line_asset, line_amount, line_balance)
                                   AS l (n, account_id, asset, amount, balance)
                             WHERE l.n = i.n),
               'replayed', false) ORDER BY i.n)
      INTO requests FROM jsonb_array_elements(requests) WITH ORDINALITY AS i (r, n);
    RETURN requests;
END $$;

-- Award a chunk of attendance records (as in 0006): activities, budgets, residents'
-- accounts, earlier awards and the accounts to lock, each probed by key.
CREATE OR REPLACE FUNCTION earning_award_chunk(request jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    chunk_realm  text := request->>'realm';
    actor        text := request->>'created_by';
    realm_tz     text;
    results      jsonb;
    entry_ids    bigint[];
    entry_refs   text[];
    entry_times  timestamptz[];
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
        error text, entry_group bigint, reference text, entry_id bigint,
        entry_time timestamptz) ON COMMIT DROP;
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
       AND (p.minutes IS NULL OR p.minutes < 1 OR p.minutes > 1440
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
    PERFORM 1
       FROM (SELECT ids.id FROM (SELECT budget_id AS id FROM pg_temp.award_plan WHERE error IS NULL
                                 UNION SELECT account_id FROM pg_temp.award_plan WHERE error IS NULL) ids
              ORDER BY ids.id) wanted
      CROSS JOIN LATERAL (SELECT 1 FROM accounts a WHERE a.realm = chunk_realm AND a.id = wanted.id
                           FOR UPDATE) locked;

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
              FROM pg_temp.award_plan q
              JOIN (SELECT d.budget_id, b.balance
                      FROM (SELECT DISTINCT budget_id FROM pg_temp.award_plan WHERE error IS NULL) d
                     CROSS JOIN LATERAL (SELECT b.balance FROM accounts b
                                          WHERE b.realm = chunk_realm AND b.id = d.budget_id LIMIT 1) b
                   ) b ON b.budget_id = q.budget_id
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
        RETURNING id, reference, created_at)
    SELECT array_agg(id), array_agg(reference), array_agg(created_at)
      INTO entry_ids, entry_refs, entry_times FROM made;

    UPDATE pg_temp.award_plan p SET entry_id = made.id, entry_time = made.created_at
      FROM unnest(entry_ids, entry_refs, entry_times) AS made (id, reference, created_at)
     WHERE p.reference = made.reference;

    -- Each account's postings continue its history in entry order (an account appears
    -- at most once per entry); the accounts are locked above, so their counts hold.
    INSERT INTO postings (realm, entry_id, account_id, account_seq, asset, amount,
                          balance_after, created_at)
    SELECT chunk_realm, leg.entry_id, leg.account_id,
           a.posting_count + row_number() OVER w, leg.asset, leg.amount,
           a.balance + sum(leg.amount) OVER w, leg.entry_time
      FROM (SELECT p.entry_group, 0 AS n, p.entry_id, p.entry_time, p.budget_id AS account_id,
                   p.asset, -sum(p.points) AS amount
              FROM pg_temp.award_plan p WHERE p.entry_id IS NOT NULL
             GROUP BY p.entry_group, p.entry_id, p.entry_time, p.budget_id, p.asset
            UNION ALL
            SELECT p.entry_group, p.n, p.entry_id, p.entry_time, p.account_id, p.asset, p.points
              FROM pg_temp.award_plan p WHERE p.entry_id IS NOT NULL) leg
     CROSS JOIN LATERAL (SELECT a.posting_count, a.balance FROM accounts a
                          WHERE a.realm = chunk_realm AND a.id = leg.account_id LIMIT 1) a
    WINDOW w AS (PARTITION BY leg.account_id ORDER BY leg.entry_group)
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

-- An award matches its entry (as in 0006): account, posting and entry probed per award.
CREATE OR REPLACE FUNCTION awards_check_entry() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    mismatched bigint;
BEGIN
    -- from each resident's account (one index probe), not from the entry's postings
    -- then its posting in the entry and the entry, each by its whole key
    SELECT aw.entry_id INTO mismatched
      FROM added aw
      LEFT JOIN LATERAL (
          SELECT true AS matched
            FROM accounts a
           CROSS JOIN LATERAL (SELECT p.amount FROM postings p
                                WHERE p.realm = a.realm AND p.entry_id = aw.entry_id AND p.account_id = a.id
                                LIMIT 1) p
           CROSS JOIN LATERAL (SELECT e.kind FROM entries e
                                WHERE e.realm = aw.realm AND e.id = aw.entry_id LIMIT 1) e
           WHERE a.realm = aw.realm AND a.resident_id = aw.resident_id AND a.asset = aw.asset
             AND a.kind = 'resident' AND e.kind = 'earn' AND p.amount = aw.points
           LIMIT 1) found ON true
     WHERE found.matched IS NULL
     LIMIT 1;
    IF FOUND THEN
        PERFORM pb_raise('award_entry_mismatch', jsonb_build_object('entry_id', mismatched));
    END IF;
    RETURN NULL;
END $$;

-- Invariant 7 at COMMIT (as in 0003): the entry's accounts probed by key.
CREATE OR REPLACE FUNCTION entries_check_hold() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    hold_asset text;
BEGIN
    FOR hold_asset IN
        SELECT DISTINCT p.asset FROM postings p
         CROSS JOIN LATERAL (SELECT 1 FROM accounts a
                              WHERE a.realm = p.realm AND a.id = p.account_id AND a.kind = 'hold'
                              LIMIT 1) hold
         WHERE p.realm = NEW.realm AND p.entry_id = NEW.id LOOP
        PERFORM hold_check(NEW.realm, hold_asset);
    END LOOP;
    RETURN NULL;
END $$;

-- A settle entry has its settlement (as in 0004): the entry's accounts probed by key.
CREATE OR REPLACE FUNCTION entries_check_settlement() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    owning_settlement bigint;
BEGIN
    SELECT s.id INTO owning_settlement FROM settlements s WHERE s.realm = NEW.realm AND s.entry_id = NEW.id;
    IF NOT FOUND OR EXISTS (
        SELECT 1 FROM postings p
         CROSS JOIN LATERAL (SELECT 1 FROM accounts a
                              WHERE a.realm = p.realm AND a.id = p.account_id AND a.kind = 'merchant'
                              LIMIT 1) merchant
          LEFT JOIN LATERAL (SELECT sa.points FROM settlement_accounts sa
                              WHERE sa.realm = p.realm AND sa.settlement_id = owning_settlement
                                AND sa.account_id = p.account_id LIMIT 1) sa ON true
         WHERE p.realm = NEW.realm AND p.entry_id = NEW.id
           AND (sa.points IS NULL OR sa.points <> -p.amount)) THEN
        PERFORM pb_raise('settle_without_settlement', jsonb_build_object('entry_id', NEW.id));
    END IF;
    RETURN NULL;
END $$;

-- A settled range (as in 0004): the range's entries probed by key, one per posting.
CREATE OR REPLACE FUNCTION settlement_accounts_admit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    previous_through bigint;
    account          accounts;
    range_points     bigint;
    moved            bigint;
    settle_entry     bigint;
BEGIN
    SELECT * INTO account FROM accounts a WHERE a.realm = NEW.realm AND a.id = NEW.account_id;
    SELECT s.entry_id INTO settle_entry FROM settlements s
     WHERE s.realm = NEW.realm AND s.id = NEW.settlement_id AND s.merchant_id = account.merchant_id;
    IF NOT FOUND OR account.kind <> 'merchant' OR account.asset <> NEW.asset THEN
        PERFORM pb_raise('settlement_account_mismatch', jsonb_build_object('account_id', NEW.account_id));
    END IF;
    SELECT max(sa.seq_through) INTO previous_through FROM settlement_accounts sa
     WHERE sa.realm = NEW.realm AND sa.account_id = NEW.account_id;
    IF NEW.seq_after <> coalesce(previous_through, 0) OR NEW.seq_through > account.posting_count THEN
        PERFORM pb_raise('settlement_range_invalid', jsonb_build_object(
            'account_id', NEW.account_id, 'seq_after', NEW.seq_after,
            'settled_through', coalesce(previous_through, 0)));
    END IF;
    SELECT coalesce(sum(p.amount), 0) INTO range_points
      FROM postings p
     CROSS JOIN LATERAL (SELECT e.kind FROM entries e WHERE e.realm = p.realm AND e.id = p.entry_id LIMIT 1) e
     WHERE p.realm = NEW.realm AND p.account_id = NEW.account_id
       AND p.account_seq > NEW.seq_after AND p.account_seq <= NEW.seq_through AND e.kind <> 'settle';
    SELECT coalesce(-sum(p.amount), 0) INTO moved FROM postings p
     WHERE p.realm = NEW.realm AND p.entry_id = settle_entry AND p.account_id = NEW.account_id;
    IF range_points <> NEW.points OR moved <> NEW.points THEN
        PERFORM pb_raise('settlement_points_mismatch', jsonb_build_object(
            'account_id', NEW.account_id, 'points', NEW.points, 'range_points', range_points,
            'moved', moved));
    END IF;
    RETURN NEW;
END $$;
