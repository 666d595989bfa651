-- On catalogue_items: catalogue_items_guard() (merchants/sql/catalogue_items_guard.sql says what it holds).
CREATE OR REPLACE TRIGGER catalogue_items_guard BEFORE INSERT OR UPDATE OR DELETE ON catalogue_items
    FOR EACH ROW EXECUTE FUNCTION catalogue_items_guard();
