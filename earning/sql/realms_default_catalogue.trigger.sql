-- On realms: realms_default_catalogue() (earning/sql/realms_default_catalogue.sql says what it holds).
CREATE OR REPLACE TRIGGER realms_default_catalogue AFTER INSERT ON realms
    FOR EACH ROW EXECUTE FUNCTION realms_default_catalogue();
