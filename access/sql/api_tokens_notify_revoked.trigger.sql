-- On api_tokens: api_tokens_notify_revoked() (access/sql/api_tokens_notify_revoked.sql says what it holds).
CREATE OR REPLACE TRIGGER api_tokens_notify_revoked AFTER UPDATE OF revoked_at ON api_tokens
    FOR EACH ROW WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at)
    EXECUTE FUNCTION api_tokens_notify_revoked();
