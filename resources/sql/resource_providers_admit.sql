-- A provider's merchant is a service_provider merchant of the provider's realm.
CREATE OR REPLACE FUNCTION resource_providers_admit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.merchant_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM merchants m WHERE m.realm = NEW.realm AND m.id = NEW.merchant_id
           AND m.kind = 'service_provider') THEN
        PERFORM pb_raise('provider_not_service_provider', jsonb_build_object('merchant_id', NEW.merchant_id));
    END IF;
    RETURN NEW;
END $$;
