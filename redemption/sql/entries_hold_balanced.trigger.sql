-- A constraint trigger cannot be replaced in place: dropped and made again.
DROP TRIGGER IF EXISTS entries_hold_balanced ON entries;
CREATE CONSTRAINT TRIGGER entries_hold_balanced AFTER INSERT ON entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.kind IN ('hold', 'capture', 'release'))
    EXECUTE FUNCTION entries_check_hold();
