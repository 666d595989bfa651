-- A reservation matches its voucher (issued now, for the item's merchant, asset and price)
-- and its item's merchant is active.
CREATE OR REPLACE FUNCTION catalogue_reservations_admit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    voucher vouchers;
    item    catalogue_items;
    merchant_status text;
BEGIN
    SELECT * INTO voucher FROM vouchers v WHERE v.realm = NEW.realm AND v.id = NEW.voucher_id;
    SELECT * INTO item FROM catalogue_items i WHERE i.realm = NEW.realm AND i.id = NEW.item_id;
    SELECT m.status INTO merchant_status FROM merchants m WHERE m.realm = NEW.realm AND m.id = item.merchant_id;
    IF voucher.status IS DISTINCT FROM 'issued' OR NEW.returned_at IS NOT NULL
       OR voucher.scope_merchant_id IS DISTINCT FROM item.merchant_id
       OR NEW.merchant_id IS DISTINCT FROM item.merchant_id
       OR voucher.asset IS DISTINCT FROM item.asset
       OR voucher.amount IS DISTINCT FROM item.price OR NEW.points IS DISTINCT FROM item.price THEN
        PERFORM pb_raise('reservation_mismatch', jsonb_build_object('voucher_id', NEW.voucher_id,
                                                                     'item_id', NEW.item_id));
    END IF;
    IF merchant_status IS DISTINCT FROM 'active' THEN
        PERFORM pb_raise('merchant_not_active', jsonb_build_object('merchant_id', item.merchant_id));
    END IF;
    RETURN NEW;
END $$;
