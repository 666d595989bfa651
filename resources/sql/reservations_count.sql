-- Invariant 10 and the held total: a booked reservation takes a place in its slot (the
-- slot's row lock queues concurrent bookings; CHECK (booked <= capacity) refuses the one
-- too many) and a held one adds its price to `reservation_outstanding`; leaving `booked`
-- gives both back. Security definer: the application role cannot write these counts.
CREATE OR REPLACE FUNCTION reservations_count() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    places integer := 0;
    held bigint := 0;
    slot_cancelled_at timestamptz;
BEGIN
    IF TG_OP = 'INSERT' THEN
        places := 1;
        held := CASE WHEN NEW.points = 'held' THEN NEW.price ELSE 0 END;
    ELSIF OLD.status = 'booked' AND NEW.status <> 'booked' THEN
        places := -1;
        held := CASE WHEN OLD.points = 'held' THEN -OLD.price ELSE 0 END;
    END IF;
    IF held <> 0 THEN
        -- the hold account first, as the hold, capture and release entries take it
        PERFORM 1 FROM accounts a WHERE a.realm = NEW.realm AND a.id = NEW.hold_account_id FOR UPDATE;
    END IF;
    IF held > 0 THEN
        INSERT INTO reservation_outstanding AS o (realm, asset, amount)
        VALUES (NEW.realm, NEW.asset, held)
        ON CONFLICT (realm, asset) DO UPDATE SET amount = o.amount + excluded.amount;
    ELSIF held < 0 THEN
        UPDATE reservation_outstanding o SET amount = o.amount + held
         WHERE o.realm = NEW.realm AND o.asset = NEW.asset;
    END IF;
    IF places <> 0 THEN
        -- the row lock queues bookings and a cancel of the slot: a booking that waited for
        -- the cancel sees it here
        UPDATE resource_slots s
           SET booked = s.booked + places,
               priority_booked = s.priority_booked + CASE WHEN NEW.priority THEN places ELSE 0 END
         WHERE s.realm = NEW.realm AND s.id = NEW.slot_id
        RETURNING s.cancelled_at INTO slot_cancelled_at;
        IF places > 0 AND slot_cancelled_at IS NOT NULL THEN
            PERFORM pb_raise('slot_cancelled', jsonb_build_object('slot_id', NEW.slot_id));
        END IF;
    END IF;
    RETURN NULL;
END $$;
