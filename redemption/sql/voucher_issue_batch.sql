-- Group commit for issues: many vouchers in one transaction and one COMMIT, each in its
-- own subtransaction (a refusal rolls back that item alone and is reported by code). The
-- realm's hold account is locked once per batch instead of once per voucher.
CREATE OR REPLACE FUNCTION voucher_issue_batch(requests jsonb) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT pb_batch_each('voucher_issue', requests)
$$;
