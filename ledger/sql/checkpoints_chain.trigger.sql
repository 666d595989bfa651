-- On checkpoints: checkpoints_check_chain() (ledger/sql/checkpoints_check_chain.sql says what it holds).
CREATE OR REPLACE TRIGGER checkpoints_chain BEFORE INSERT ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION checkpoints_check_chain();
