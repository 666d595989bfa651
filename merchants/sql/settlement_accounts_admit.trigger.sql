-- On settlement_accounts: settlement_accounts_admit() (merchants/sql/settlement_accounts_admit.sql says what it holds).
CREATE OR REPLACE TRIGGER settlement_accounts_admit BEFORE INSERT ON settlement_accounts
    FOR EACH ROW EXECUTE FUNCTION settlement_accounts_admit();
