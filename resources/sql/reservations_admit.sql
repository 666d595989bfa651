-- A new reservation: booked, of a slot of its resource and provider, and when priority
-- at the resource's price with its hold entry (resident -> hold, the price) posted.
CREATE OR REPLACE FUNCTION reservations_admit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    slot_resource bigint;
    resource_provider bigint;
    resource_price bigint;
    provider_merchant bigint;
BEGIN
    IF NEW.status <> 'booked' OR NEW.closed_at IS NOT NULL OR NEW.close_entry_id IS NOT NULL
       OR NEW.points <> (CASE WHEN NEW.priority THEN 'held' ELSE 'none' END) THEN
        PERFORM pb_raise('reservation_not_booked', '{}');
    END IF;
    SELECT s.resource_id INTO slot_resource FROM resource_slots s WHERE s.realm = NEW.realm AND s.id = NEW.slot_id;
    SELECT r.provider_id, r.priority_price INTO resource_provider, resource_price
      FROM resources r WHERE r.realm = NEW.realm AND r.id = NEW.resource_id;
    IF slot_resource IS DISTINCT FROM NEW.resource_id OR resource_provider IS DISTINCT FROM NEW.provider_id THEN
        PERFORM pb_raise('reservation_mismatch', jsonb_build_object('slot_id', NEW.slot_id));
    END IF;
    IF NEW.priority THEN
        SELECT a.id INTO provider_merchant FROM resource_providers p
          JOIN accounts a ON a.realm = p.realm AND a.merchant_id = p.merchant_id
                         AND a.kind = 'merchant' AND a.asset = NEW.asset
         WHERE p.realm = NEW.realm AND p.id = NEW.provider_id;
        IF resource_price = 0 OR NEW.price <> resource_price
           OR provider_merchant IS DISTINCT FROM NEW.merchant_account_id
           OR NOT reservation_points_posted(NEW.realm, NEW.hold_entry_id, 'hold', NEW.hold_account_id,
                                            NEW.resident_account_id, NEW.price, 1) THEN
            PERFORM pb_raise('reservation_mismatch', jsonb_build_object('slot_id', NEW.slot_id));
        END IF;
    END IF;
    RETURN NEW;
END $$;
