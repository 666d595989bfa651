-- On activities: activities_status_forward() (earning/sql/activities_status_forward.sql says what it holds).
CREATE OR REPLACE TRIGGER activities_status_forward BEFORE UPDATE ON activities
    FOR EACH ROW EXECUTE FUNCTION activities_status_forward();
