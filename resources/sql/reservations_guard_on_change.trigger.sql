CREATE OR REPLACE TRIGGER reservations_guard_on_change BEFORE UPDATE OR DELETE ON reservations
    FOR EACH ROW EXECUTE FUNCTION reservations_guard();
