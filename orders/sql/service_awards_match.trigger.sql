CREATE OR REPLACE TRIGGER service_awards_match AFTER INSERT ON service_awards
    FOR EACH ROW EXECUTE FUNCTION service_awards_check();
