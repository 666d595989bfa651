CREATE OR REPLACE TRIGGER insight_requests_opened AFTER INSERT ON service_requests
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION insight_requests_opened();
