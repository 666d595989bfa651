-- Group commit: post many entries in one transaction, one result per item. All accounts
-- are locked up front in (realm, id) order; the batch is tried together first
-- (ledger_post_together), else one entry at a time (ledger_post_each), where an item that
-- fails is rolled back alone and reported by code.
CREATE OR REPLACE FUNCTION ledger_post_batch(requests jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    together jsonb;
BEGIN
    PERFORM ledger_lock_batch_accounts(requests);
    IF jsonb_array_length(requests) > 1 THEN
        together := ledger_post_together(requests);  -- NULL, and nothing written, if it cannot
    END IF;
    RETURN coalesce(together, ledger_post_each(requests));  -- its locks are ours already
END $$;
