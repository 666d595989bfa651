-- A constraint trigger cannot be replaced in place: dropped and made again.
DROP TRIGGER IF EXISTS entries_settle_has_settlement ON entries;
CREATE CONSTRAINT TRIGGER entries_settle_has_settlement AFTER INSERT ON entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.kind = 'settle')
    EXECUTE FUNCTION entries_check_settlement();
