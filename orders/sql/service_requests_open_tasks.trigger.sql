CREATE OR REPLACE TRIGGER service_requests_open_tasks AFTER UPDATE OF state, volunteer_id ON service_requests
    FOR EACH ROW EXECUTE FUNCTION service_requests_count_tasks();
