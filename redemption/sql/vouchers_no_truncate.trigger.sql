-- On vouchers: pb_refuse_change() (ledger/sql/pb_refuse_change.sql says what it holds).
CREATE OR REPLACE TRIGGER vouchers_no_truncate BEFORE TRUNCATE ON vouchers
    FOR EACH STATEMENT EXECUTE FUNCTION pb_refuse_change();
