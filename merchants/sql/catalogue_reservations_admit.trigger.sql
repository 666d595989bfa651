-- On catalogue_reservations: catalogue_reservations_admit() (merchants/sql/catalogue_reservations_admit.sql says what it holds).
CREATE OR REPLACE TRIGGER catalogue_reservations_admit BEFORE INSERT ON catalogue_reservations
    FOR EACH ROW EXECUTE FUNCTION catalogue_reservations_admit();
