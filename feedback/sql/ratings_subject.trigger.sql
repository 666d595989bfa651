CREATE OR REPLACE TRIGGER ratings_subject BEFORE INSERT ON ratings
    FOR EACH ROW EXECUTE FUNCTION ratings_check_subject();
