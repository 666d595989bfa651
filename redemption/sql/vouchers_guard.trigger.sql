-- On vouchers: vouchers_guard() (redemption/sql/vouchers_guard.sql says what it holds).
CREATE OR REPLACE TRIGGER vouchers_guard BEFORE UPDATE OR DELETE ON vouchers
    FOR EACH ROW EXECUTE FUNCTION vouchers_guard();
