-- On merchants: pb_refuse_change() (ledger/sql/pb_refuse_change.sql says what it holds).
CREATE OR REPLACE TRIGGER merchants_no_truncate BEFORE TRUNCATE ON merchants
    FOR EACH STATEMENT EXECUTE FUNCTION pb_refuse_change();
