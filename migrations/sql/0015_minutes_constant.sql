-- The CHECKs on minutes use the named constant earning_minutes_per_record_max()
-- (earning/sql/earning_minutes_per_record_max.sql) instead of the literal 1440.
ALTER TABLE activity_rules
    DROP CONSTRAINT activity_rules_creditable_minutes_max_check,
    ADD CONSTRAINT activity_rules_creditable_minutes_max_check
        CHECK (creditable_minutes_max BETWEEN 1 AND earning_minutes_per_record_max());
ALTER TABLE awards
    DROP CONSTRAINT awards_minutes_check,
    ADD CONSTRAINT awards_minutes_check
        CHECK (minutes BETWEEN 1 AND earning_minutes_per_record_max());
