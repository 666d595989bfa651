CREATE OR REPLACE TRIGGER reservations_count_on_change AFTER INSERT OR UPDATE ON reservations
    FOR EACH ROW EXECUTE FUNCTION reservations_count();
