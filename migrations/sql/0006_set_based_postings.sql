-- Set-based postings: a posting arrives carrying its own place in its account's history
-- (account_seq) and the running balance after it (balance_after), computed by the writer
-- under the account's row lock. The book no longer fills these in row by row; it checks
-- them, once per INSERT statement, and moves the cached balances in one UPDATE.
--
-- What the book guarantees is unchanged (invariants 1-4): every posting joins an entry
-- made in its own transaction and takes its time; the entry rules hold; balances chain
-- without gaps from the cached balance; no balance goes below its floor; the cached
-- balance is the last running balance. A writer that gets a number wrong is refused
-- (`posting_chain_broken`), never corrected silently.
--
-- Why: a bulk attendance chunk posts about 1,000 times under the realm's budget lock;
-- a row trigger per posting was a third of that lock's time.

-- Sealing finds new entries by transaction id. Keyed (created_txid, realm) rather than
-- (realm, created_txid): with the realm first, a planner without statistics (a new
-- book) took it for look-ups by (realm, id), scanning a realm's every entry per probe.
DROP INDEX entries_realm_txid;
CREATE INDEX entries_txid_realm ON entries (created_txid, realm);
-- For the same reason the two optional keys are indexed only where they are set (most
-- entries have neither), so that no index led by `realm` but not by `id` competes with
-- the primary key. Still unique per realm, under the same names.
ALTER TABLE entries DROP CONSTRAINT entries_idempotency_key;
CREATE UNIQUE INDEX entries_idempotency_key ON entries (realm, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
ALTER TABLE entries DROP CONSTRAINT entries_reversed_once;
CREATE UNIQUE INDEX entries_reversed_once ON entries (realm, reverses_entry_id)
    WHERE reverses_entry_id IS NOT NULL;

DROP TRIGGER postings_apply ON postings;
DROP FUNCTION postings_apply();

CREATE FUNCTION postings_apply() RETURNS trigger
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
      LEFT JOIN entries e ON e.realm = p.realm AND e.id = p.entry_id
      LEFT JOIN accounts a ON a.realm = p.realm AND a.id = p.account_id
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
         WHERE a.realm = m.realm AND a.id = m.account_id AND (a.floor IS NULL OR m.lowest >= a.floor)
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
          FROM added p JOIN accounts a ON a.realm = p.realm AND a.id = p.account_id
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
CREATE TRIGGER postings_apply AFTER INSERT ON postings
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION postings_apply();

-- The balance still moves only from inside the posting trigger, and only forward.
CREATE OR REPLACE FUNCTION accounts_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pb_raise('append_only', jsonb_build_object('table', 'accounts', 'operation', TG_OP));
    END IF;
    IF (NEW.realm, NEW.id, NEW.kind, NEW.asset, NEW.created_at)
           IS DISTINCT FROM (OLD.realm, OLD.id, OLD.kind, OLD.asset, OLD.created_at)
       OR (NEW.floor, NEW.resident_id, NEW.merchant_id, NEW.counterpart_realm)
           IS DISTINCT FROM (OLD.floor, OLD.resident_id, OLD.merchant_id, OLD.counterpart_realm) THEN
        PERFORM pb_raise('account_immutable', jsonb_build_object('account_id', OLD.id));
    END IF;
    IF (NEW.balance, NEW.posting_count) IS DISTINCT FROM (OLD.balance, OLD.posting_count)
       AND (pg_trigger_depth() < 2 OR NEW.posting_count <= OLD.posting_count) THEN
        PERFORM pb_raise('balance_is_derived', jsonb_build_object('account_id', OLD.id));
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;

-- Post one entry inside the caller's transaction (as in 0001): its postings now carry
-- their running balances, read from the accounts it has just locked.
CREATE OR REPLACE FUNCTION ledger_post_entry(request jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    entry_realm  text := request->>'realm';
    key          text := request->>'idempotency_key';
    request_hash bytea := decode(request->>'request_hash', 'hex');
    reverses_id  bigint := (request->>'reverses_entry_id')::bigint;
    account_ids  bigint[];
    amounts      bigint[];
    found_ids    bigint[];
    assets       text[];
    balances     bigint[];
    counts       bigint[];
    replay       jsonb;
    new_id       bigint;
    new_time     timestamptz;
    posted       jsonb;
BEGIN
    IF key IS NOT NULL THEN
        replay := ledger_replay(entry_realm, key, request_hash);
        IF replay IS NOT NULL THEN
            RETURN replay;
        END IF;
    END IF;

    SELECT array_agg((l->>'account_id')::bigint ORDER BY (l->>'account_id')::bigint),
           array_agg((l->>'amount')::bigint ORDER BY (l->>'account_id')::bigint)
      INTO account_ids, amounts
      FROM jsonb_array_elements(request->'postings') l;

    SELECT array_agg(locked.id ORDER BY locked.id), array_agg(locked.asset ORDER BY locked.id),
           array_agg(locked.balance ORDER BY locked.id), array_agg(locked.posting_count ORDER BY locked.id)
      INTO found_ids, assets, balances, counts
      FROM (SELECT a.id, a.asset, a.balance, a.posting_count FROM accounts a
             WHERE a.realm = entry_realm AND a.id = ANY (account_ids)
             ORDER BY a.id FOR UPDATE) locked;
    IF found_ids IS DISTINCT FROM account_ids THEN
        PERFORM pb_raise('unknown_account', jsonb_build_object('account_id',
            (SELECT min(x) FROM unnest(account_ids) x WHERE found_ids IS NULL OR x <> ALL (found_ids))));
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(assets, amounts) AS l (asset, amount)
                GROUP BY l.asset HAVING sum(l.amount) <> 0) THEN
        PERFORM pb_raise('entry_unbalanced', '{}');
    END IF;
    IF reverses_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM entries e WHERE e.realm = entry_realm AND e.reverses_entry_id = reverses_id) THEN
        PERFORM pb_raise('entry_already_reversed', jsonb_build_object('entry_id', reverses_id));
    END IF;

    INSERT INTO entries (realm, kind, idempotency_key, request_hash, reverses_entry_id,
                         reference, memo, created_by, created_at, created_txid)
    VALUES (entry_realm, request->>'kind', key, request_hash, reverses_id,
            request->>'reference', request->>'memo', request->>'created_by', now(), 0)
    ON CONFLICT (realm, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id, created_at INTO new_id, new_time;
    IF new_id IS NULL THEN
        -- a concurrent request with the same key committed first
        RETURN ledger_replay(entry_realm, key, request_hash);
    END IF;

    -- one posting per account (the accounts are distinct), so each is the next in its
    -- account's history
    INSERT INTO postings (realm, entry_id, account_id, account_seq, asset, amount,
                          balance_after, created_at)
    SELECT entry_realm, new_id, l.id, l.posting_count + 1, l.asset, l.amount, l.balance + l.amount, new_time
      FROM unnest(account_ids, assets, amounts, balances, counts) AS l (id, asset, amount, balance, posting_count);

    SELECT jsonb_agg(jsonb_build_object('account_id', l.id, 'asset', l.asset, 'amount', l.amount,
                                        'balance_after', l.balance + l.amount) ORDER BY l.id)
      INTO posted FROM unnest(account_ids, assets, amounts, balances) AS l (id, asset, amount, balance);

    RETURN jsonb_build_object(
        'realm', entry_realm, 'id', new_id, 'kind', request->>'kind',
        'reverses_entry_id', reverses_id, 'reference', request->>'reference',
        'memo', request->>'memo', 'created_by', request->>'created_by', 'created_at', new_time,
        'postings', posted, 'replayed', false);
END $$;

-- Award a chunk of attendance records (as in 0002): the postings carry their running
-- balances, counted on from the accounts the chunk has locked, in entry order.
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
      JOIN accounts a ON a.realm = chunk_realm AND a.id = leg.account_id
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

-- An award must match its entry (as in 0002), now checked once per INSERT statement
-- rather than per row at COMMIT: the earn entry and its postings are written before the
-- awards that name them.
DROP TRIGGER awards_entry_matches ON awards;
CREATE OR REPLACE FUNCTION awards_check_entry() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    mismatched bigint;
BEGIN
    -- from each resident's account (one index probe), not from the entry's postings
    SELECT aw.entry_id INTO mismatched
      FROM added aw
     WHERE NOT EXISTS (
        SELECT 1 FROM accounts a
          JOIN postings p ON p.realm = a.realm AND p.entry_id = aw.entry_id AND p.account_id = a.id
          JOIN entries e ON e.realm = p.realm AND e.id = p.entry_id
         WHERE a.realm = aw.realm AND a.resident_id = aw.resident_id AND a.asset = aw.asset
           AND a.kind = 'resident' AND e.kind = 'earn' AND p.amount = aw.points)
     LIMIT 1;
    IF FOUND THEN
        PERFORM pb_raise('award_entry_mismatch', jsonb_build_object('entry_id', mismatched));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER awards_entry_matches AFTER INSERT ON awards
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION awards_check_entry();
