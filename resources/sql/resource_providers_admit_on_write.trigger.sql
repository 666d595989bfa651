CREATE OR REPLACE TRIGGER resource_providers_admit_on_write BEFORE INSERT OR UPDATE ON resource_providers
    FOR EACH ROW EXECUTE FUNCTION resource_providers_admit();
