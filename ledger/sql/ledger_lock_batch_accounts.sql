-- Group commit: lock every account a batch names, in (realm, id) order, one key probe
-- each (the sorted subquery drives the probes). Was a join that the planner, guessing
-- the JSON at 100 x 100 lines, made a hash of the whole accounts table.
CREATE OR REPLACE FUNCTION ledger_lock_batch_accounts(requests jsonb) RETURNS void
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
