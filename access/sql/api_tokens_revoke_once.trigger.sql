-- On api_tokens: api_tokens_revoke_once() (access/sql/api_tokens_revoke_once.sql says what it holds).
CREATE OR REPLACE TRIGGER api_tokens_revoke_once BEFORE UPDATE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION api_tokens_revoke_once();
