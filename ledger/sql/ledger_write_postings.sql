-- The one posting writer: every path that posts (ledger_post_entry, ledger_post_together,
-- earning_award_chunk; captures and batches through ledger_post_entry) writes its postings
-- here, in one INSERT, for entries it has just inserted in this transaction. Line k of
-- the arrays is one posting: (realm, entry id, account id, amount); an account's postings
-- follow each other in the order of the lines. The protocol:
--   * the accounts are locked in (realm, id) order (ledger_lock_accounts); an unknown one
--     is refused (`unknown_account`, the lowest id);
--   * each entry's lines add up to zero per asset (`entry_unbalanced`), before anything is
--     written (the deferred check at COMMIT would be too late for a batch's item);
--   * each posting gets account_seq = the account's posting_count + its place among this
--     statement's postings to that account, balance_after = the running balance from the
--     account's balance, asset = the account's, created_at = its entry's time.
-- The statement-level `postings_apply` trigger then checks all of it once and moves the
-- cached balances (a floor crossed: `insufficient_points` or `budget_exhausted`).
-- Answers the postings written, in line order.
CREATE OR REPLACE FUNCTION ledger_write_postings(line_realms text[], line_entries bigint[],
                                                 line_accounts bigint[], line_amounts bigint[])
RETURNS TABLE (entry_id bigint, account_id bigint, asset text, amount bigint, balance_after bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    locked_realms   text[];
    locked_ids      bigint[];
    locked_assets   text[];
    locked_balances bigint[];
    locked_counts   bigint[];
    missing         bigint;
    unbalanced      bigint;
BEGIN
    SELECT array_agg(a.realm), array_agg(a.id), array_agg(a.asset), array_agg(a.balance),
           array_agg(a.posting_count)
      INTO locked_realms, locked_ids, locked_assets, locked_balances, locked_counts
      FROM ledger_lock_accounts(line_realms, line_accounts) a;

    SELECT min(l.account_id) INTO missing
      FROM unnest(line_realms, line_accounts) AS l (realm, account_id)
      LEFT JOIN unnest(locked_realms, locked_ids) AS a (realm, id) ON a.realm = l.realm AND a.id = l.account_id
     WHERE a.id IS NULL;
    IF missing IS NOT NULL THEN
        PERFORM pb_raise('unknown_account', jsonb_build_object('account_id', missing));
    END IF;
    SELECT l.entry_id INTO unbalanced
      FROM unnest(line_realms, line_entries, line_accounts, line_amounts) AS l (realm, entry_id, account_id, amount)
      JOIN unnest(locked_realms, locked_ids, locked_assets) AS a (realm, id, asset)
        ON a.realm = l.realm AND a.id = l.account_id
     GROUP BY l.realm, l.entry_id, a.asset HAVING sum(l.amount) <> 0
     LIMIT 1;
    IF unbalanced IS NOT NULL THEN
        PERFORM pb_raise('entry_unbalanced', jsonb_build_object('entry_id', unbalanced));
    END IF;

    RETURN QUERY
    WITH lines AS (
        SELECT l.realm, l.entry_id, l.account_id, l.amount, l.k
          FROM unnest(line_realms, line_entries, line_accounts, line_amounts)
               WITH ORDINALITY AS l (realm, entry_id, account_id, amount, k)),
    stamped AS (  -- each entry's time, one key probe per entry
        SELECT d.realm, d.entry_id, e.created_at
          FROM (SELECT DISTINCT l.realm, l.entry_id FROM lines l) d
          LEFT JOIN LATERAL (SELECT e.created_at FROM entries e
                              WHERE e.realm = d.realm AND e.id = d.entry_id LIMIT 1) e ON true),
    written AS (
        INSERT INTO postings (realm, entry_id, account_id, account_seq, asset, amount,
                              balance_after, created_at)
        SELECT l.realm, l.entry_id, l.account_id, a.posting_count + row_number() OVER w, a.asset,
               l.amount, a.balance + sum(l.amount) OVER w, s.created_at
          FROM lines l
          JOIN unnest(locked_realms, locked_ids, locked_assets, locked_balances, locked_counts)
               AS a (realm, id, asset, balance, posting_count)
            ON a.realm = l.realm AND a.id = l.account_id
          JOIN stamped s ON s.realm = l.realm AND s.entry_id = l.entry_id
        WINDOW w AS (PARTITION BY l.realm, l.account_id ORDER BY l.k)
         ORDER BY l.k
        RETURNING postings.entry_id, postings.account_id, postings.asset, postings.amount,
                  postings.balance_after)
    SELECT w.entry_id, w.account_id, w.asset, w.amount, w.balance_after FROM written w;
END $$;
