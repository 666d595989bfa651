-- On signing_keys: signing_keys_check_signer() (ledger/sql/signing_keys_check_signer.sql says what it holds).
CREATE OR REPLACE TRIGGER signing_keys_signer BEFORE INSERT ON signing_keys
    FOR EACH ROW EXECUTE FUNCTION signing_keys_check_signer();
