-- What a resident has earned on one realm day under one rule (activity type), the sum
-- its daily cap is measured against: attendance awards (`awards`) and the service
-- awards that rule paid (`service_awards` of kind volunteer; a rating award names no
-- rule). Both sums are key probes (awards_resident_day, service_awards_resident_day).
-- The one place that sum is written: the attendance chunk (earning_award_chunk) and a
-- service request's confirmation (orders/repository.py) read it after locking the
-- resident's account, so no two payers of one resident read it at once.
-- SQL, STABLE and one expression: the planner inlines it, and each sum stays a probe
-- per caller's row.
CREATE OR REPLACE FUNCTION earning_earned_on_day(on_realm text, of_resident bigint, under_type text,
                                                 on_day date) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce((SELECT sum(aw.points) FROM awards aw
                      WHERE aw.realm = on_realm AND aw.resident_id = of_resident
                        AND aw.activity_type = under_type AND aw.award_day = on_day), 0)
         + coalesce((SELECT sum(sa.points) FROM service_awards sa
                      WHERE sa.realm = on_realm AND sa.resident_id = of_resident
                        AND sa.activity_type = under_type AND sa.award_day = on_day), 0)
$$;
