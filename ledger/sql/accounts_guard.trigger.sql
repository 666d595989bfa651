-- On accounts: accounts_guard() (ledger/sql/accounts_guard.sql says what it holds).
CREATE OR REPLACE TRIGGER accounts_guard BEFORE UPDATE OR DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION accounts_guard();
