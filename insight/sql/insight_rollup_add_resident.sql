-- insight_rollup_add for a figure that belongs to a resident's station (a request the
-- resident opened, a rating the resident gave).
CREATE OR REPLACE FUNCTION insight_rollup_add_resident(realm text, resident_id bigint, at timestamptz,
                                                       metric text, value bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM insight_rollup_add(r.realm, r.station_id, at, metric, value)
       FROM residents r WHERE r.realm = insight_rollup_add_resident.realm
                          AND r.id = insight_rollup_add_resident.resident_id;
END $$;
