-- Issue one voucher (group commit, issue 17): post the hold entry (voucher_hold_entry:
-- the resident's wallet -> the realm's hold account of the asset) and insert the voucher
-- that names it (voucher_insert). The service has read the accounts, signed the code and
-- set the expiry; the database judges the rest as for any issue: the wallet's floor
-- (insufficient_points), the outstanding limit (vouchers_admit), one voucher per key
-- (vouchers_idempotency_key), the hold balance at COMMIT (entries_hold_balanced,
-- vouchers_hold_balanced). One item:
--   {realm, serial (hex), short_code, code, key_id, resident_id, resident_account_id,
--    hold_account_id, asset, amount, scope_merchant_id, scope_merchant_kind, expires_at,
--    idempotency_key, request_hash (hex), created_by}
-- Answers the voucher row as JSON, its bytea columns (serial, request_hash) in hex.
CREATE OR REPLACE FUNCTION voucher_issue(request jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    entry jsonb := ledger_post_entry(voucher_hold_entry(request));
BEGIN
    RETURN voucher_insert(jsonb_build_array(request), ARRAY[(entry->>'id')::bigint])->0;
END $$;
