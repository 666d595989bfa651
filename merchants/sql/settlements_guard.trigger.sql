-- On settlements: settlements_guard() (merchants/sql/settlements_guard.sql says what it holds).
CREATE OR REPLACE TRIGGER settlements_guard BEFORE UPDATE OR DELETE ON settlements
    FOR EACH ROW EXECUTE FUNCTION settlements_guard();
