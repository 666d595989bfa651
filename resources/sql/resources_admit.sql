-- Priority places are paid to the provider's merchant account: an institution with no
-- merchant offers none.
CREATE OR REPLACE FUNCTION resources_admit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.priority_price > 0 AND NOT EXISTS (
        SELECT 1 FROM resource_providers p WHERE p.realm = NEW.realm AND p.id = NEW.provider_id
           AND p.merchant_id IS NOT NULL) THEN
        PERFORM pb_raise('priority_needs_merchant', jsonb_build_object('provider_id', NEW.provider_id));
    END IF;
    RETURN NEW;
END $$;
