-- On vouchers: vouchers_count_outstanding() (redemption/sql/vouchers_count_outstanding.sql says what it holds).
CREATE OR REPLACE TRIGGER vouchers_count_outstanding AFTER INSERT OR UPDATE ON vouchers
    FOR EACH ROW EXECUTE FUNCTION vouchers_count_outstanding();
