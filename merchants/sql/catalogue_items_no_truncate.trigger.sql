-- On catalogue_items: pb_refuse_change() (ledger/sql/pb_refuse_change.sql says what it holds).
CREATE OR REPLACE TRIGGER catalogue_items_no_truncate BEFORE TRUNCATE ON catalogue_items
    FOR EACH STATEMENT EXECUTE FUNCTION pb_refuse_change();
