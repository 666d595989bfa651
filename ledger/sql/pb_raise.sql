-- Domain errors: message is the stable code, detail a JSON object of context.
CREATE OR REPLACE FUNCTION pb_raise(code text, detail jsonb DEFAULT '{}') RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = code, DETAIL = detail::text;
END $$;
