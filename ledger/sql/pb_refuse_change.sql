-- Append-only: entries and postings are never updated or deleted (invariant 2).
CREATE OR REPLACE FUNCTION pb_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pb_raise('append_only', jsonb_build_object('table', TG_TABLE_NAME, 'operation', TG_OP));
    RETURN NULL;
END $$;
