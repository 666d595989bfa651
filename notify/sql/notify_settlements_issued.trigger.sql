CREATE OR REPLACE TRIGGER notify_settlements_issued AFTER INSERT ON settlements
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION notify_settlements_issued();
