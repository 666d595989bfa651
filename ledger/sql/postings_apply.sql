-- The posting check, once per INSERT statement on postings. A posting arrives carrying its
-- own place in its account's history (account_seq) and the running balance after it
-- (balance_after), computed by the writer (ledger_write_postings) under the account's row
-- lock; this checks them and moves the cached balances in one UPDATE. A writer that gets
-- a number wrong is refused (`posting_chain_broken`), never corrected silently. Every
-- posting joins an entry made in its own transaction and takes its time; the entry rules
-- hold; no balance goes below its floor. Runs as the owner so that the application role
-- needs no UPDATE right on accounts. Entries and accounts are probed per posting (no scan
-- whatever the planner believes about `added`).
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
