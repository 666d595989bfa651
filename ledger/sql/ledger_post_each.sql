-- Group commit, one entry at a time (the path a batch takes when it cannot go together):
-- each item in its own subtransaction, a refusal reported by code (pb_batch_each); the
-- accounts are locked first through ledger_lock_batch_accounts.
CREATE OR REPLACE FUNCTION ledger_post_each(requests jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ledger_lock_batch_accounts(requests);
    RETURN pb_batch_each('ledger_post_entry', requests);
END $$;
