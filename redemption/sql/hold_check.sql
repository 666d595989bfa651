-- Invariant 7 at COMMIT, once per realm and asset per transaction: the hold account's
-- balance equals what is held for it, outstanding vouchers (`voucher_outstanding`, as in
-- 0003) plus held priority reservations (`reservation_outstanding`, issue 15).
-- (Redefines 0003's hold_check: the one hold check, for vouchers and reservations.)
CREATE OR REPLACE FUNCTION hold_check(check_realm text, check_asset text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    flag text := 'pb.hold_checked_' || check_realm || '_' || check_asset;
    hold_balance bigint;
    outstanding  bigint;
    reserved     bigint;
BEGIN
    IF current_setting(flag, true) = txid_current()::text THEN
        RETURN;
    END IF;
    PERFORM set_config(flag, txid_current()::text, true);
    SELECT a.balance INTO hold_balance FROM accounts a
     WHERE a.realm = check_realm AND a.kind = 'hold' AND a.asset = check_asset;
    SELECT coalesce(max(o.amount), 0) INTO outstanding FROM voucher_outstanding o
     WHERE o.realm = check_realm AND o.asset = check_asset;
    SELECT coalesce(max(o.amount), 0) INTO reserved FROM reservation_outstanding o
     WHERE o.realm = check_realm AND o.asset = check_asset;
    IF hold_balance IS DISTINCT FROM outstanding + reserved THEN
        PERFORM pb_raise('hold_mismatch', jsonb_build_object(
            'realm', check_realm, 'asset', check_asset, 'hold_balance', hold_balance,
            'outstanding', outstanding, 'reserved', reserved));
    END IF;
END $$;
