-- settlement.paid: a settlement moving from open to paid.
CREATE OR REPLACE FUNCTION notify_settlements_paid() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO events (realm, type, subject_id, merchant_id, payload)
    SELECT n.realm, 'settlement.paid', n.id, n.merchant_id,
           jsonb_build_object('settlement_id', n.id, 'points', n.points, 'amount_fen', n.amount_fen,
                              'bank_reference', n.bank_reference, 'paid_on', n.paid_on)
      FROM after_rows n JOIN before_rows o ON o.realm = n.realm AND o.id = n.id
     WHERE o.status = 'open' AND n.status = 'paid';
    RETURN NULL;
END $$;
