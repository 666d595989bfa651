-- The one posting writer: every path that posts (ledger_post_entry, ledger_post_together,
-- earning_award_chunk; captures and batches through ledger_post_entry) writes its postings
-- here, in one INSERT, for entries it has just inserted in this transaction. Line k of
-- the arrays is one posting: (realm, entry id, account id, amount); an account's postings
-- follow each other in the order of the lines. The protocol:
--   * the accounts are locked in (realm, id) order (ledger_lock_accounts); an unknown one
--     is refused (`unknown_account`, the lowest id);
--   * each entry's lines add up to zero per asset (`entry_unbalanced`), checked before
--     anything is written (the deferred check at COMMIT would be too late for a batch);
--   * each posting gets account_seq = the account's posting_count + its place among this
--     statement's postings to that account, balance_after = the running balance from the
--     account's balance, asset = the account's, created_at = its entry's time.
-- The statement-level `postings_apply` trigger then checks all of it once and moves the
-- cached balances (a floor crossed: `insufficient_points` or `budget_exhausted`).
-- Each line's account is probed by key, each entry once (never an array joined to an
-- array: a generic plan sizes both at a guess and may loop one over the other). Answers
-- the postings written, in line order.
CREATE OR REPLACE FUNCTION ledger_write_postings(line_realms text[], line_entries bigint[],
                                                 line_accounts bigint[], line_amounts bigint[])
RETURNS TABLE (entry_id bigint, account_id bigint, asset text, amount bigint, balance_after bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    missing    bigint;
    unbalanced bigint;
    seqs       bigint[];
    assets     text[];
    balances   bigint[];
    times      timestamptz[];
BEGIN
    SELECT min(a.id) FILTER (WHERE a.asset IS NULL) INTO missing
      FROM ledger_lock_accounts(line_realms, line_accounts) a;
    IF missing IS NOT NULL THEN
        PERFORM pb_raise('unknown_account', jsonb_build_object('account_id', missing));
    END IF;

    WITH lines AS (
        SELECT l.realm, l.entry_id, l.account_id, l.amount, l.k
          FROM unnest(line_realms, line_entries, line_accounts, line_amounts)
               WITH ORDINALITY AS l (realm, entry_id, account_id, amount, k)),
    stamped AS MATERIALIZED (  -- each entry's time: one key probe per entry, not per line
        SELECT d.realm, d.entry_id, e.created_at
          FROM (SELECT DISTINCT l.realm, l.entry_id FROM lines l) d
          LEFT JOIN LATERAL (SELECT e.created_at FROM entries e
                              WHERE e.realm = d.realm AND e.id = d.entry_id LIMIT 1) e ON true),
    placed AS (  -- each line's account probed by key (locked above, so its numbers hold)
        SELECT l.k, l.realm, l.entry_id, l.amount, a.asset, s.created_at,
               a.posting_count + row_number() OVER w AS account_seq,
               a.balance + sum(l.amount) OVER w AS balance_after
          FROM lines l
         CROSS JOIN LATERAL (SELECT a.asset, a.balance, a.posting_count FROM accounts a
                              WHERE a.realm = l.realm AND a.id = l.account_id LIMIT 1) a
          JOIN stamped s ON s.realm = l.realm AND s.entry_id = l.entry_id
        WINDOW w AS (PARTITION BY l.realm, l.account_id ORDER BY l.k))
    SELECT array_agg(p.account_seq ORDER BY p.k), array_agg(p.asset ORDER BY p.k),
           array_agg(p.balance_after ORDER BY p.k), array_agg(p.created_at ORDER BY p.k),
           (SELECT u.entry_id FROM placed u GROUP BY u.realm, u.entry_id, u.asset
            HAVING sum(u.amount) <> 0 LIMIT 1)
      INTO seqs, assets, balances, times, unbalanced
      FROM placed p;
    IF unbalanced IS NOT NULL THEN
        PERFORM pb_raise('entry_unbalanced', jsonb_build_object('entry_id', unbalanced));
    END IF;

    RETURN QUERY
    INSERT INTO postings AS p (realm, entry_id, account_id, account_seq, asset, amount,
                               balance_after, created_at)
    SELECT * FROM unnest(line_realms, line_entries, line_accounts, seqs, assets, line_amounts,
                         balances, times)
    RETURNING p.entry_id, p.account_id, p.asset, p.amount, p.balance_after;
END $$;
