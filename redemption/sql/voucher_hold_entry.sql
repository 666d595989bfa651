-- The hold entry of a voucher to issue (a voucher_issue request), as ledger_post_entry
-- and ledger_post_together take it: the amount from the resident's wallet to the realm's
-- hold account, referenced by the voucher's serial.
CREATE OR REPLACE FUNCTION voucher_hold_entry(request jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'realm', request->>'realm', 'kind', 'hold', 'reference', 'voucher:' || (request->>'serial'),
        'memo', 'voucher issued', 'created_by', request->>'created_by',
        'postings', jsonb_build_array(
            jsonb_build_object('account_id', (request->>'resident_account_id')::bigint,
                               'amount', -(request->>'amount')::bigint),
            jsonb_build_object('account_id', (request->>'hold_account_id')::bigint,
                               'amount', (request->>'amount')::bigint)))
$$;
