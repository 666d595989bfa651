-- A constraint trigger cannot be CREATE OR REPLACE'd: dropped and made again, in one file.
DROP TRIGGER IF EXISTS reservations_hold_balanced ON reservations;
CREATE CONSTRAINT TRIGGER reservations_hold_balanced AFTER INSERT OR UPDATE ON reservations
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.priority) EXECUTE FUNCTION reservations_check_hold();
