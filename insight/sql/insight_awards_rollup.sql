-- From the awards of one statement: awards, minutes, volunteering minutes and points
-- earned per (station of the resident, month of the award day), and each resident's
-- first award of a month counted as active. One residents probe per award; then one
-- upsert per station, month and metric, in key order (concurrent statements lock the
-- same rows in the same order).
CREATE OR REPLACE FUNCTION insight_awards_rollup() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    WITH placed AS (
        SELECT a.realm, p.station_id, date_trunc('month', a.award_day)::date AS month, a.resident_id,
               a.minutes, a.points, a.asset, a.activity_type
          FROM added a
          CROSS JOIN LATERAL (SELECT r.station_id FROM residents r
                               WHERE r.realm = a.realm AND r.id = a.resident_id LIMIT 1) p
    ), fresh AS (
        INSERT INTO indicator_active (realm, resident_id, month)
        SELECT DISTINCT realm, resident_id, month FROM placed ORDER BY 1, 2, 3
        ON CONFLICT DO NOTHING
        RETURNING realm, resident_id, month
    ), figures AS (
        SELECT realm, station_id, month, 'awards' AS metric, count(*) AS value FROM placed GROUP BY 1, 2, 3
        UNION ALL
        SELECT realm, station_id, month, 'minutes', sum(minutes) FROM placed GROUP BY 1, 2, 3
        UNION ALL
        SELECT realm, station_id, month, 'volunteer_minutes', sum(minutes) FROM placed
         WHERE activity_type = 'volunteering' GROUP BY 1, 2, 3
        UNION ALL
        SELECT realm, station_id, month, 'earned_' || asset, sum(points) FROM placed GROUP BY 1, 2, 3, asset
        UNION ALL
        SELECT f.realm, s.station_id, f.month, 'active', count(*)
          FROM fresh f JOIN (SELECT DISTINCT realm, resident_id, station_id FROM placed) s
            ON s.realm = f.realm AND s.resident_id = f.resident_id
         GROUP BY 1, 2, 3
    )
    INSERT INTO indicator_rollup AS r (realm, station_id, month, metric, value)
    SELECT realm, station_id, month, metric, value FROM figures ORDER BY 1, 2, 3, 4
    ON CONFLICT (realm, station_id, month, metric) DO UPDATE SET value = r.value + excluded.value;
    RETURN NULL;
END $$;
