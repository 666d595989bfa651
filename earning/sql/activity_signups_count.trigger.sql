-- On activity_signups: activity_signups_count() (earning/sql/activity_signups_count.sql says what it holds).
CREATE OR REPLACE TRIGGER activity_signups_count AFTER INSERT OR UPDATE OF status ON activity_signups
    FOR EACH ROW EXECUTE FUNCTION activity_signups_count();
