-- Every server process LISTENs on this channel and empties its token cache on a notice
-- (sent at COMMIT, whoever revoked: the API, the CLI, or SQL by hand).
CREATE OR REPLACE FUNCTION api_tokens_notify_revoked() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pb_token_revoked', NEW.id::text);
    RETURN NULL;
END $$;
