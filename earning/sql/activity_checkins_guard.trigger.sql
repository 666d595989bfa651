-- On activity_checkins: activity_checkins_guard() (earning/sql/activity_checkins_guard.sql says what it holds).
CREATE OR REPLACE TRIGGER activity_checkins_guard BEFORE INSERT OR UPDATE ON activity_checkins
    FOR EACH ROW EXECUTE FUNCTION activity_checkins_guard();
