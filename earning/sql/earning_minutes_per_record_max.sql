-- The longest attendance record, in minutes (a day; longer is a typing error): the one
-- number that the award function and the CHECKs on activity_rules.creditable_minutes_max
-- and awards.minutes use. Python's is earning.model.MINUTES_PER_RECORD_MAX; a test ties
-- the two. A CHECK does not look at existing rows again when this changes: a smaller value
-- needs a revision that re-validates those constraints.
CREATE OR REPLACE FUNCTION earning_minutes_per_record_max() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 1440
$$;
