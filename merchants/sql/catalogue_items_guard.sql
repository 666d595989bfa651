-- An item's merchant, asset and price never change (its reservations name them); agri
-- items only at agri shops.
CREATE OR REPLACE FUNCTION catalogue_items_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    merchant_kind text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pb_raise('append_only', jsonb_build_object('table', 'catalogue_items', 'operation', TG_OP));
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.realm, NEW.id, NEW.merchant_id, NEW.asset, NEW.price, NEW.created_at)
           IS DISTINCT FROM (OLD.realm, OLD.id, OLD.merchant_id, OLD.asset, OLD.price, OLD.created_at) THEN
        PERFORM pb_raise('catalogue_item_immutable', jsonb_build_object('item_id', OLD.id));
    END IF;
    IF TG_OP = 'INSERT' THEN
        SELECT m.kind INTO merchant_kind FROM merchants m WHERE m.realm = NEW.realm AND m.id = NEW.merchant_id;
        IF NEW.asset = 'agri' AND merchant_kind IS DISTINCT FROM 'agri_shop' THEN
            PERFORM pb_raise('agri_needs_agri_shop', jsonb_build_object('merchant_id', NEW.merchant_id));
        END IF;
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
