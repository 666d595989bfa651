CREATE OR REPLACE TRIGGER notify_service_requests_moved AFTER UPDATE ON service_requests
    REFERENCING OLD TABLE AS before_rows NEW TABLE AS after_rows
    FOR EACH STATEMENT EXECUTE FUNCTION notify_service_requests_moved();
