CREATE OR REPLACE TRIGGER notify_reservations_closed AFTER UPDATE ON reservations
    REFERENCING OLD TABLE AS before_rows NEW TABLE AS after_rows
    FOR EACH STATEMENT EXECUTE FUNCTION notify_reservations_closed();
