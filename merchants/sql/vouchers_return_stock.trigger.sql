-- On vouchers: vouchers_return_stock() (merchants/sql/vouchers_return_stock.sql says what it holds).
CREATE OR REPLACE TRIGGER vouchers_return_stock AFTER UPDATE OF status ON vouchers
    FOR EACH ROW WHEN (OLD.status = 'issued' AND NEW.status IN ('cancelled', 'expired'))
    EXECUTE FUNCTION vouchers_return_stock();
