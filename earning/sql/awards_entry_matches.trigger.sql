-- On awards: awards_check_entry() (earning/sql/awards_check_entry.sql says what it holds).
CREATE OR REPLACE TRIGGER awards_entry_matches AFTER INSERT ON awards
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION awards_check_entry();
