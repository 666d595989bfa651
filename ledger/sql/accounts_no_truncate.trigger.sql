-- On accounts: pb_refuse_change() (ledger/sql/pb_refuse_change.sql says what it holds).
CREATE OR REPLACE TRIGGER accounts_no_truncate BEFORE TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION pb_refuse_change();
