CREATE OR REPLACE TRIGGER reservations_admit_on_insert BEFORE INSERT ON reservations
    FOR EACH ROW EXECUTE FUNCTION reservations_admit();
