-- On catalogue_reservations: pb_refuse_change() (ledger/sql/pb_refuse_change.sql says what it holds).
CREATE OR REPLACE TRIGGER catalogue_reservations_no_truncate BEFORE TRUNCATE ON catalogue_reservations
    FOR EACH STATEMENT EXECUTE FUNCTION pb_refuse_change();
