CREATE OR REPLACE TRIGGER service_requests_transition BEFORE INSERT OR UPDATE OR DELETE ON service_requests
    FOR EACH ROW EXECUTE FUNCTION service_requests_check_transition();
