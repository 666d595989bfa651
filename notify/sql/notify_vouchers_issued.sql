-- voucher.issued, from the inserted rows alone.
CREATE OR REPLACE FUNCTION notify_vouchers_issued() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO events (realm, type, subject_id, resident_id, payload)
    SELECT v.realm, 'voucher.issued', v.id, v.resident_id,
           jsonb_build_object('voucher_id', v.id, 'asset', v.asset, 'amount', v.amount,
                              'expires_at', v.expires_at)
      FROM added v;
    RETURN NULL;
END $$;
