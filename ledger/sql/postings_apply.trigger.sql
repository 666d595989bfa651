-- On postings: postings_apply() (ledger/sql/postings_apply.sql says what it holds).
CREATE OR REPLACE TRIGGER postings_apply AFTER INSERT ON postings
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION postings_apply();
