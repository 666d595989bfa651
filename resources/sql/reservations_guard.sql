-- Invariant 8 for reservations: `booked` -> one outcome, once, never deleted; what was
-- booked never changes; a priority reservation closes with exactly the entry its outcome
-- needs (attended, or a forfeited no-show: capture hold -> provider's merchant account;
-- otherwise release hold -> resident), of its price.
CREATE OR REPLACE FUNCTION reservations_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pb_raise('append_only', jsonb_build_object('table', 'reservations', 'operation', TG_OP));
    END IF;
    IF OLD.status <> 'booked' THEN
        PERFORM pb_raise('reservation_closed', jsonb_build_object('reservation_id', OLD.id, 'status', OLD.status));
    END IF;
    IF (NEW.realm, NEW.id, NEW.slot_id, NEW.resource_id, NEW.provider_id, NEW.booker_realm,
        NEW.booker_station_id, NEW.resident_id, NEW.station_id, NEW.priority, NEW.price, NEW.asset,
        NEW.forfeit_on_no_show, NEW.resident_account_id, NEW.hold_account_id, NEW.merchant_account_id,
        NEW.hold_entry_id, NEW.idempotency_key, NEW.request_hash, NEW.created_by, NEW.created_at)
       IS DISTINCT FROM
       (OLD.realm, OLD.id, OLD.slot_id, OLD.resource_id, OLD.provider_id, OLD.booker_realm,
        OLD.booker_station_id, OLD.resident_id, OLD.station_id, OLD.priority, OLD.price, OLD.asset,
        OLD.forfeit_on_no_show, OLD.resident_account_id, OLD.hold_account_id, OLD.merchant_account_id,
        OLD.hold_entry_id, OLD.idempotency_key, OLD.request_hash, OLD.created_by, OLD.created_at) THEN
        PERFORM pb_raise('reservation_immutable', jsonb_build_object('reservation_id', OLD.id));
    END IF;
    IF NEW.priority AND NOT (CASE NEW.points
        WHEN 'captured' THEN reservation_points_posted(NEW.realm, NEW.close_entry_id, 'capture',
                                 NEW.hold_account_id, NEW.merchant_account_id, NEW.price, -1)
        WHEN 'released' THEN reservation_points_posted(NEW.realm, NEW.close_entry_id, 'release',
                                 NEW.hold_account_id, NEW.resident_account_id, NEW.price, -1)
        ELSE false END) THEN
        PERFORM pb_raise('reservation_close_mismatch', jsonb_build_object('reservation_id', OLD.id));
    END IF;
    RETURN NEW;
END $$;
