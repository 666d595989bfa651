-- The one call that adds to an indicator (for a source that is not one of the triggers
-- here, e.g. ratings or service requests):
--   PERFORM insight_rollup_add(NEW.realm, station_id, NEW.created_at, 'rating_activity_sum', NEW.stars);
-- `at` falls in a month of the realm's time zone. The metric must be in indicator_metrics.
CREATE OR REPLACE FUNCTION insight_rollup_add(realm text, station_id bigint, at timestamptz,
                                              metric text, value bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO indicator_rollup AS r (realm, station_id, month, metric, value)
    SELECT insight_rollup_add.realm, insight_rollup_add.station_id,
           date_trunc('month', insight_rollup_add.at AT TIME ZONE rl.timezone)::date,
           insight_rollup_add.metric, insight_rollup_add.value
      FROM realms rl WHERE rl.code = insight_rollup_add.realm
    ON CONFLICT (realm, station_id, month, metric) DO UPDATE SET value = r.value + excluded.value;
END $$;
