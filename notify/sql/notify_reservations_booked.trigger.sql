CREATE OR REPLACE TRIGGER notify_reservations_booked AFTER INSERT ON reservations
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION notify_reservations_booked();
