-- Group commit for issues: many vouchers in one transaction and one COMMIT. The batch is
-- tried together first: its hold entries through ledger_post_together (one INSERT of
-- entries, one of postings), its vouchers with one INSERT (voucher_insert). When the book
-- or a voucher's check refuses anything, nothing of that try stays, and the batch goes
-- one voucher at a time (voucher_issue, each in its own subtransaction, refusals reported
-- by code). The accounts are locked first, in (realm, id) order.
CREATE OR REPLACE FUNCTION voucher_issue_batch(requests jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    holds  jsonb;
    posted jsonb;
BEGIN
    IF jsonb_array_length(requests) > 1 THEN
        SELECT jsonb_agg(voucher_hold_entry(r) ORDER BY n) INTO holds
          FROM jsonb_array_elements(requests) WITH ORDINALITY AS i (r, n);
        PERFORM ledger_lock_batch_accounts(holds);
        BEGIN
            posted := ledger_post_together(holds);  -- NULL, and nothing written, if it cannot
            IF posted IS NOT NULL THEN
                RETURN voucher_insert(requests, ARRAY(SELECT (e->>'id')::bigint
                                                        FROM jsonb_array_elements(posted) WITH ORDINALITY AS p (e, n)
                                                       ORDER BY n));
            END IF;
        EXCEPTION WHEN raise_exception OR integrity_constraint_violation OR data_exception THEN
            NULL;  -- a voucher refused (its limit, a key twin): one at a time names it
        END;
    END IF;
    RETURN pb_batch_each('voucher_issue', requests);
END $$;
