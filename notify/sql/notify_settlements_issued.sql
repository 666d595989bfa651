-- settlement.issued, to the merchant.
CREATE OR REPLACE FUNCTION notify_settlements_issued() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO events (realm, type, subject_id, merchant_id, payload)
    SELECT s.realm, 'settlement.issued', s.id, s.merchant_id,
           jsonb_build_object('settlement_id', s.id, 'points', s.points, 'amount_fen', s.amount_fen,
                              'period_start', s.period_start, 'period_end', s.period_end)
      FROM added s;
    RETURN NULL;
END $$;
