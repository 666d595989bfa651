-- Group commit for captures: many redemptions in one transaction, each in its own
-- subtransaction (a refusal rolls back that item alone and is reported by code).
CREATE OR REPLACE FUNCTION voucher_capture_batch(requests jsonb) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT pb_batch_each('voucher_capture', requests)
$$;
