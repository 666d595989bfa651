-- Lock accounts for posting, in (realm, id) order, one key probe each (the sorted
-- subquery drives the probes, so the planner can never make it a scan of accounts), and
-- answer one row per account asked for, with what a writer needs of it read under the
-- lock; an account that does not exist comes back with NULL asset, balance and count.
-- Every path that posts locks through here before it inserts its entries (so an
-- account's postings are in time order as well as in account_seq order), and the
-- posting writer locks through here again (a lock the transaction holds costs one probe
-- and never waits).
CREATE OR REPLACE FUNCTION ledger_lock_accounts(account_realms text[], account_ids bigint[])
RETURNS TABLE (realm text, id bigint, asset text, balance bigint, posting_count bigint)
LANGUAGE plpgsql AS $$  -- PL/pgSQL, not SQL: its plan is kept, not made again on every call
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT wanted.realm, wanted.id, locked.asset, locked.balance, locked.posting_count
      FROM (SELECT DISTINCT w.realm, w.id FROM unnest(account_realms, account_ids) AS w (realm, id)
             ORDER BY 1, 2) wanted
      LEFT JOIN LATERAL (SELECT a.asset, a.balance, a.posting_count FROM accounts a
                          WHERE a.realm = wanted.realm AND a.id = wanted.id
                            FOR UPDATE) locked ON true;
END $$;
