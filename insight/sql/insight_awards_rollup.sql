-- From the awards of one statement: awards, minutes, volunteering minutes and points
-- earned per (station of the resident, month of the award day), and each resident's
-- first award of a month counted as active. One residents probe per award; then one
-- upsert per station and month, in key order (concurrent statements lock the same rows
-- in the same order).
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
    ), newly_active AS (
        SELECT f.realm, s.station_id, f.month, count(*) AS residents
          FROM fresh f JOIN (SELECT DISTINCT realm, resident_id, station_id FROM placed) s
            ON s.realm = f.realm AND s.resident_id = f.resident_id
         GROUP BY 1, 2, 3
    ), figures AS (
        SELECT realm, station_id, month, count(*) AS awards, sum(minutes) AS minutes,
               coalesce(sum(minutes) FILTER (WHERE activity_type = 'volunteering'), 0) AS volunteer_minutes,
               coalesce(sum(points) FILTER (WHERE asset = 'civic'), 0) AS earned_civic,
               coalesce(sum(points) FILTER (WHERE asset = 'agri'), 0) AS earned_agri
          FROM placed GROUP BY 1, 2, 3
    )
    INSERT INTO indicator_rollup AS r (realm, month, station_id, source, awards, minutes, volunteer_minutes,
                                       earned_civic, earned_agri, active)
    SELECT f.realm, f.month, f.station_id, 'awards', f.awards, f.minutes, f.volunteer_minutes, f.earned_civic,
           f.earned_agri, coalesce(n.residents, 0)
      FROM figures f LEFT JOIN newly_active n
        ON n.realm = f.realm AND n.station_id = f.station_id AND n.month = f.month
     ORDER BY 1, 2, 3
    ON CONFLICT (realm, month, station_id, source) DO UPDATE SET
        awards = r.awards + excluded.awards, minutes = r.minutes + excluded.minutes,
        volunteer_minutes = r.volunteer_minutes + excluded.volunteer_minutes,
        earned_civic = r.earned_civic + excluded.earned_civic, earned_agri = r.earned_agri + excluded.earned_agri,
        active = r.active + excluded.active;
    RETURN NULL;
END $$;
