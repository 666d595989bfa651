-- Group commit for captures: many redemptions in one transaction and one COMMIT. A batch
-- of more than one is tried together first (voucher_capture_together: the accounts locked
-- in (realm, id) order, one UPDATE of the vouchers, the entries through
-- ledger_post_together, one INSERT of the redemptions). When that cannot be, nothing of the
-- try stays and the batch goes one capture at a time (voucher_capture, each in its own
-- subtransaction, a refusal rolled back alone and reported by code).
CREATE OR REPLACE FUNCTION voucher_capture_batch(requests jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    together jsonb;
BEGIN
    IF jsonb_array_length(requests) > 1 THEN
        together := voucher_capture_together(requests);  -- NULL, and nothing written, if it cannot
    END IF;
    RETURN coalesce(together, pb_batch_each('voucher_capture', requests));
END $$;
