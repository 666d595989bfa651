-- On settlements: settlements_admit() (merchants/sql/settlements_admit.sql says what it holds).
CREATE OR REPLACE TRIGGER settlements_admit BEFORE INSERT ON settlements
    FOR EACH ROW EXECUTE FUNCTION settlements_admit();
