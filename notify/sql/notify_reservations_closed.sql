-- reservation.cancelled (by the booker or the provider), reservation.attended and
-- reservation.no_show: a reservation leaving `booked`, once (a closed reservation does not
-- move again). To the booking resident, in its realm.
CREATE OR REPLACE FUNCTION notify_reservations_closed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO events (realm, type, subject_id, resident_id, payload)
    SELECT n.booker_realm,
           CASE n.status WHEN 'provider_cancelled' THEN 'reservation.cancelled'
                         ELSE 'reservation.' || n.status END,
           n.id, n.resident_id,
           jsonb_build_object('realm', n.realm, 'reservation_id', n.id, 'slot_id', n.slot_id,
                              'resource_id', n.resource_id, 'status', n.status, 'points', n.points)
      FROM after_rows n JOIN before_rows o ON o.realm = n.realm AND o.id = n.id
     WHERE o.status = 'booked' AND n.status <> 'booked'
     ORDER BY n.realm, n.id;
    RETURN NULL;
END $$;
