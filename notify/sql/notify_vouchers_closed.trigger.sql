CREATE OR REPLACE TRIGGER notify_vouchers_closed AFTER UPDATE ON vouchers
    REFERENCING OLD TABLE AS before_rows NEW TABLE AS after_rows
    FOR EACH STATEMENT EXECUTE FUNCTION notify_vouchers_closed();
