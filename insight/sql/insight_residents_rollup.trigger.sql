CREATE OR REPLACE TRIGGER insight_residents_rollup AFTER INSERT ON residents
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION insight_residents_rollup();
