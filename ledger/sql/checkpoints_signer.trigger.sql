-- On checkpoints: checkpoints_check_signer() (ledger/sql/checkpoints_check_signer.sql says what it holds).
CREATE OR REPLACE TRIGGER checkpoints_signer BEFORE INSERT ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION checkpoints_check_signer();
