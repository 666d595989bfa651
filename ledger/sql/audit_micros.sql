-- Microseconds since the epoch: exact, unlike a formatted timestamp.
CREATE OR REPLACE FUNCTION audit_micros(moment timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (extract(epoch FROM moment) * 1000000)::bigint
$$;
