-- Group commit for captures: many redemptions in one transaction and one COMMIT, each in
-- its own subtransaction (a refusal rolls back that item alone). The hold account is
-- locked once per batch instead of once per redemption. One item:
--   {realm, serial (hex), voucher_id, status, captured, entry (as for ledger_post_entry),
--    merchant_id, merchant_realm, idempotency_key, request_hash (hex), offline, created_by}
CREATE OR REPLACE FUNCTION voucher_capture(request jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    voucher_realm  text := request->>'realm';
    voucher_serial bytea := decode(request->>'serial', 'hex');
    captured       bigint := (request->>'captured')::bigint;
    voucher        vouchers;
    lines          jsonb;
    entry          jsonb;
    redemption     redemptions;
BEGIN
    UPDATE vouchers v
       SET status = CASE WHEN captured = v.amount THEN 'redeemed' ELSE 'partially_redeemed' END,
           captured_amount = captured, closed_at = now()
     WHERE v.realm = voucher_realm AND v.serial = voucher_serial AND v.status = 'issued'
       AND v.expires_at > now()
    RETURNING * INTO voucher;
    IF NOT FOUND THEN
        SELECT * INTO voucher FROM vouchers v WHERE v.realm = voucher_realm AND v.serial = voucher_serial;
        PERFORM pb_raise(CASE WHEN NOT FOUND THEN 'voucher_not_found'
                              WHEN voucher.status IN ('redeemed', 'partially_redeemed') THEN 'voucher_already_redeemed'
                              WHEN voucher.status = 'cancelled' THEN 'voucher_cancelled'
                              ELSE 'voucher_expired' END,
                         jsonb_build_object('voucher_id', voucher.id));
    END IF;
    -- the signed code the merchant showed must be this row's
    IF (voucher.amount, voucher.asset) IS DISTINCT FROM ((request->>'amount')::bigint, request->>'asset') THEN
        PERFORM pb_raise('voucher_code_mismatch', jsonb_build_object('voucher_id', voucher.id));
    END IF;
    lines := jsonb_build_array(
        jsonb_build_object('account_id', voucher.hold_account_id, 'amount', -voucher.amount),
        jsonb_build_object('account_id', (request->>'merchant_account_id')::bigint, 'amount', captured));
    IF captured < voucher.amount THEN  -- a partial capture: the rest goes back at once
        lines := lines || jsonb_build_object('account_id', voucher.resident_account_id,
                                             'amount', voucher.amount - captured);
    END IF;
    entry := ledger_post_entry(jsonb_build_object(
        'realm', voucher_realm, 'kind', 'capture', 'reference', 'voucher:' || encode(voucher.serial, 'hex'),
        'memo', 'voucher redeemed', 'created_by', request->>'created_by', 'postings', lines));
    INSERT INTO redemptions (realm, voucher_id, merchant_id, merchant_realm, amount, entry_id,
                             offline, idempotency_key, request_hash, created_by)
    VALUES (voucher_realm, voucher.id, (request->>'merchant_id')::bigint, request->>'merchant_realm',
            captured, (entry->>'id')::bigint, (request->>'offline')::boolean,
            request->>'idempotency_key', decode(request->>'request_hash', 'hex'), request->>'created_by')
    RETURNING * INTO redemption;
    RETURN jsonb_build_object('id', redemption.id, 'realm', redemption.realm,
                              'voucher_id', redemption.voucher_id, 'merchant_id', redemption.merchant_id,
                              'amount', redemption.amount, 'entry_id', redemption.entry_id,
                              'clear_entry_id', NULL, 'offline', redemption.offline,
                              'created_at', redemption.created_at);
END $$;
