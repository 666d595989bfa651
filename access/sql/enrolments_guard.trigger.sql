-- On enrolments: enrolments_guard() (access/sql/enrolments_guard.sql says what it holds).
CREATE OR REPLACE TRIGGER enrolments_guard BEFORE UPDATE ON enrolments
    FOR EACH ROW EXECUTE FUNCTION enrolments_guard();
