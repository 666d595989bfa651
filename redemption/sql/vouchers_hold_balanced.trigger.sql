-- A constraint trigger cannot be replaced in place: dropped and made again.
DROP TRIGGER IF EXISTS vouchers_hold_balanced ON vouchers;
CREATE CONSTRAINT TRIGGER vouchers_hold_balanced AFTER INSERT OR UPDATE ON vouchers
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION vouchers_check_hold();
