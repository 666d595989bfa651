CREATE OR REPLACE TRIGGER insight_redemptions_rollup AFTER INSERT ON redemptions
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION insight_redemptions_rollup();
