-- voucher.expiring, by the periodic job: every issued voucher that expires within
-- `horizon`, once (its dedup key). Reads the `vouchers_due` index.
CREATE OR REPLACE FUNCTION notify_vouchers_expiring(horizon interval) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    made integer;
BEGIN
    INSERT INTO events (realm, type, subject_id, resident_id, payload, dedup_key)
    SELECT v.realm, 'voucher.expiring', v.id, v.resident_id,
           jsonb_build_object('voucher_id', v.id, 'asset', v.asset, 'amount', v.amount,
                              'expires_at', v.expires_at),
           'voucher.expiring:' || v.id
      FROM vouchers v
     WHERE v.status = 'issued' AND v.expires_at > now() AND v.expires_at <= now() + horizon
    ON CONFLICT ON CONSTRAINT events_dedup DO NOTHING;
    GET DIAGNOSTICS made = ROW_COUNT;
    RETURN made;
END $$;
