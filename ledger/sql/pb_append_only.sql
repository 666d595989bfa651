-- Make a table append-only: no UPDATE, DELETE or TRUNCATE, whoever asks (only
-- disabling the triggers, as a superuser, gets past; the audit is there for that).
CREATE OR REPLACE FUNCTION pb_append_only(target regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    name text := (SELECT c.relname FROM pg_class c WHERE c.oid = target);
BEGIN
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION pb_refuse_change()', name || '_append_only', target);
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION pb_refuse_change()', name || '_no_truncate', target);
END $$;
