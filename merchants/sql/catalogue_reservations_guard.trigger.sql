-- On catalogue_reservations: catalogue_reservations_guard() (merchants/sql/catalogue_reservations_guard.sql says what it holds).
CREATE OR REPLACE TRIGGER catalogue_reservations_guard BEFORE UPDATE OR DELETE ON catalogue_reservations
    FOR EACH ROW EXECUTE FUNCTION catalogue_reservations_guard();
