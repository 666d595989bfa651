-- On redemptions: redemptions_merchant_active() (redemption/sql/redemptions_merchant_active.sql says what it holds).
CREATE OR REPLACE TRIGGER redemptions_merchant_active BEFORE INSERT ON redemptions
    FOR EACH ROW EXECUTE FUNCTION redemptions_merchant_active();
