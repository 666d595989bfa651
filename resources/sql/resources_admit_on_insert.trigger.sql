CREATE OR REPLACE TRIGGER resources_admit_on_insert BEFORE INSERT ON resources
    FOR EACH ROW EXECUTE FUNCTION resources_admit();
