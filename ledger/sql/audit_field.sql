-- A text field in the canonical leaf: its length in bytes, a colon, the text; '-' for
-- NULL. Unambiguous without escaping, and easy to reproduce in Python.
CREATE OR REPLACE FUNCTION audit_field(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN value IS NULL THEN '-' ELSE octet_length(value)::text || ':' || value END
$$;
