-- voucher.redeemed and voucher.expired: a voucher leaving 'issued' (both transition
-- tables hold only this statement's rows, so the join is between small sets).
CREATE OR REPLACE FUNCTION notify_vouchers_closed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO events (realm, type, subject_id, resident_id, payload)
    SELECT n.realm, CASE WHEN n.status = 'expired' THEN 'voucher.expired' ELSE 'voucher.redeemed' END,
           n.id, n.resident_id,
           jsonb_build_object('voucher_id', n.id, 'asset', n.asset, 'amount', n.amount,
                              'captured_amount', n.captured_amount, 'status', n.status)
      FROM after_rows n JOIN before_rows o ON o.realm = n.realm AND o.id = n.id
     WHERE o.status = 'issued' AND n.status IN ('redeemed', 'partially_redeemed', 'expired');
    RETURN NULL;
END $$;
