CREATE OR REPLACE TRIGGER notify_settlements_paid AFTER UPDATE ON settlements
    REFERENCING OLD TABLE AS before_rows NEW TABLE AS after_rows
    FOR EACH STATEMENT EXECUTE FUNCTION notify_settlements_paid();
