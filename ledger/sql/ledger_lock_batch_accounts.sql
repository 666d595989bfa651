-- Group commit: lock every account a batch names, in (realm, id) order, one key probe
-- each (ledger_lock_accounts). Unknown accounts are the items' own refusals.
CREATE OR REPLACE FUNCTION ledger_lock_batch_accounts(requests jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    account_realms text[];
    account_ids    bigint[];
BEGIN
    SELECT array_agg(r->>'realm'), array_agg((l->>'account_id')::bigint)
      INTO account_realms, account_ids
      FROM jsonb_array_elements(requests) r, jsonb_array_elements(r->'postings') l;
    PERFORM 1 FROM ledger_lock_accounts(account_realms, account_ids);
END $$;
