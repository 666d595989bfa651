-- reservation.booked, from the inserted rows alone: to the booking resident (a station's
-- booking, with no resident, reaches webhooks only). The event is the booker's realm's
-- (the resident's); the payload names the provider's realm and the slot.
CREATE OR REPLACE FUNCTION notify_reservations_booked() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO events (realm, type, subject_id, resident_id, payload)
    SELECT r.booker_realm, 'reservation.booked', r.id, r.resident_id,
           jsonb_build_object('realm', r.realm, 'reservation_id', r.id, 'slot_id', r.slot_id,
                              'resource_id', r.resource_id, 'station_id', r.booker_station_id,
                              'price', r.price, 'asset', r.asset)
      FROM added r
     ORDER BY r.realm, r.id;
    RETURN NULL;
END $$;
