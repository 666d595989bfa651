-- Issue one voucher (group commit, issue 17): post the hold entry (the resident's wallet
-- -> the realm's hold account of the asset) and insert the voucher that names it. The
-- service has read the accounts, signed the code and set the expiry; the database judges
-- the rest as for any issue: the wallet's floor (insufficient_points), the outstanding
-- limit (vouchers_admit), one voucher per key (vouchers_idempotency_key), the hold
-- balance at COMMIT (entries_hold_balanced, vouchers_hold_balanced). One item:
--   {realm, serial (hex), short_code, code, key_id, resident_id, resident_account_id,
--    hold_account_id, asset, amount, scope_merchant_id, scope_merchant_kind, expires_at,
--    idempotency_key, request_hash (hex), created_by}
-- Answers the voucher row as JSON, its bytea columns (serial, request_hash) in hex.
CREATE OR REPLACE FUNCTION voucher_issue(request jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    voucher_realm text := request->>'realm';
    held          bigint := (request->>'amount')::bigint;
    entry         jsonb;
    voucher       vouchers;
BEGIN
    entry := ledger_post_entry(jsonb_build_object(
        'realm', voucher_realm, 'kind', 'hold', 'reference', 'voucher:' || (request->>'serial'),
        'memo', 'voucher issued', 'created_by', request->>'created_by',
        'postings', jsonb_build_array(
            jsonb_build_object('account_id', (request->>'resident_account_id')::bigint, 'amount', -held),
            jsonb_build_object('account_id', (request->>'hold_account_id')::bigint, 'amount', held))));
    INSERT INTO vouchers (realm, serial, short_code, code, key_id, resident_id, resident_account_id,
                          hold_account_id, asset, amount, scope_merchant_id, scope_merchant_kind,
                          expires_at, hold_entry_id, idempotency_key, request_hash, created_by)
    VALUES (voucher_realm, decode(request->>'serial', 'hex'), request->>'short_code', request->>'code',
            (request->>'key_id')::integer, (request->>'resident_id')::bigint,
            (request->>'resident_account_id')::bigint, (request->>'hold_account_id')::bigint,
            request->>'asset', held, (request->>'scope_merchant_id')::bigint,
            request->>'scope_merchant_kind', (request->>'expires_at')::timestamptz,
            (entry->>'id')::bigint, request->>'idempotency_key', decode(request->>'request_hash', 'hex'),
            request->>'created_by')
    RETURNING * INTO voucher;
    RETURN to_jsonb(voucher) || jsonb_build_object('serial', encode(voucher.serial, 'hex'),
                                                   'request_hash', encode(voucher.request_hash, 'hex'));
END $$;
