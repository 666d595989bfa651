-- On entries: entries_stamp() (ledger/sql/entries_stamp.sql says what it holds).
CREATE OR REPLACE TRIGGER entries_stamp BEFORE INSERT ON entries
    FOR EACH ROW EXECUTE FUNCTION entries_stamp();
