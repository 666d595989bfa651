-- On entries: entries_refuse_award_reversal() (earning/sql/entries_refuse_award_reversal.sql says what it holds).
CREATE OR REPLACE TRIGGER entries_refuse_award_reversal BEFORE INSERT ON entries
    FOR EACH ROW WHEN (NEW.kind = 'reversal')
    EXECUTE FUNCTION entries_refuse_award_reversal();
