-- On vouchers: vouchers_admit() (redemption/sql/vouchers_admit.sql says what it holds).
CREATE OR REPLACE TRIGGER vouchers_admit BEFORE INSERT ON vouchers
    FOR EACH ROW EXECUTE FUNCTION vouchers_admit();
