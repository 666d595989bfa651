-- Only an active merchant takes a redemption, whichever path wrote it: the service's own
-- check reads a briefly cached merchant, this one the row as it is now.
CREATE OR REPLACE FUNCTION redemptions_merchant_active() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    merchant_status text;
BEGIN
    SELECT m.status INTO merchant_status FROM merchants m
     WHERE m.realm = NEW.merchant_realm AND m.id = NEW.merchant_id;
    IF merchant_status IS DISTINCT FROM 'active' THEN
        PERFORM pb_raise('merchant_not_active', jsonb_build_object(
            'merchant_id', NEW.merchant_id, 'status', merchant_status));
    END IF;
    RETURN NEW;
END $$;
