CREATE OR REPLACE TRIGGER insight_requests_completed AFTER UPDATE ON service_requests
    REFERENCING OLD TABLE AS before_rows NEW TABLE AS after_rows
    FOR EACH STATEMENT EXECUTE FUNCTION insight_requests_completed();
