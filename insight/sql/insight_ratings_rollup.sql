-- Satisfaction, from the ratings of one statement: per (station of the rated activity or
-- service request, month of the rating) the sum and count of activity ratings and of
-- service-request ratings. One key probe per rating into its subject's table.
CREATE OR REPLACE FUNCTION insight_ratings_rollup() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    placed record;
BEGIN
    FOR placed IN
        SELECT g.realm, coalesce(a.station_id, s.station_id) AS station_id, g.created_at, g.subject_kind, g.rating
          FROM added g
          LEFT JOIN LATERAL (SELECT x.station_id FROM activities x WHERE g.subject_kind = 'activity'
                               AND x.realm = g.realm AND x.id = g.subject_id LIMIT 1) a ON true
          LEFT JOIN LATERAL (SELECT x.station_id FROM service_requests x WHERE g.subject_kind = 'service_request'
                               AND x.realm = g.realm AND x.id = g.subject_id LIMIT 1) s ON true
         WHERE coalesce(a.station_id, s.station_id) IS NOT NULL
         ORDER BY 1, 2, 3
    LOOP
        IF placed.subject_kind = 'activity' THEN
            PERFORM insight_rollup_add(placed.realm, placed.station_id, placed.created_at, 'rating_activity_sum', placed.rating);
            PERFORM insight_rollup_add(placed.realm, placed.station_id, placed.created_at, 'rating_activity_count', 1);
        ELSE
            PERFORM insight_rollup_add(placed.realm, placed.station_id, placed.created_at, 'rating_request_sum', placed.rating);
            PERFORM insight_rollup_add(placed.realm, placed.station_id, placed.created_at, 'rating_request_count', 1);
        END IF;
    END LOOP;
    RETURN NULL;
END $$;
