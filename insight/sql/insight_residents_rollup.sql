-- registered: residents by their station and the month (realm time) they were registered.
CREATE OR REPLACE FUNCTION insight_residents_rollup() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO indicator_rollup AS r (realm, month, station_id, source, registered)
    SELECT n.realm, date_trunc('month', n.created_at AT TIME ZONE rl.timezone)::date, n.station_id,
           'residents', count(*)
      FROM added n
      CROSS JOIN LATERAL (SELECT x.timezone FROM realms x WHERE x.code = n.realm LIMIT 1) rl
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (realm, month, station_id, source) DO UPDATE SET registered = r.registered + excluded.registered;
    RETURN NULL;
END $$;
