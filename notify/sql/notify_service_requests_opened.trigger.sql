CREATE OR REPLACE TRIGGER notify_service_requests_opened AFTER INSERT ON service_requests
    REFERENCING NEW TABLE AS added_rows
    FOR EACH STATEMENT EXECUTE FUNCTION notify_service_requests_opened();
