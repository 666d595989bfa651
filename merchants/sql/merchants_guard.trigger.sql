-- On merchants: merchants_guard() (merchants/sql/merchants_guard.sql says what it holds).
CREATE OR REPLACE TRIGGER merchants_guard BEFORE UPDATE OR DELETE ON merchants
    FOR EACH ROW EXECUTE FUNCTION merchants_guard();
