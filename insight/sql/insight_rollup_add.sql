-- The one call that adds to an indicator (for a source that is not one of the triggers
-- here, e.g. ratings or service requests):
--   PERFORM insight_rollup_add(NEW.realm, station_id, NEW.created_at, 'rating_activity_sum', NEW.stars);
-- `at` falls in a month of the realm's time zone. The metric must be in indicator_metrics
-- (its code is the rollup's column; its source names the row the call adds to).
CREATE OR REPLACE FUNCTION insight_rollup_add(realm text, station_id bigint, at timestamptz,
                                              metric text, value bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    fed_by text := (SELECT m.source FROM indicator_metrics m WHERE m.code = insight_rollup_add.metric);
    month date := (SELECT date_trunc('month', insight_rollup_add.at AT TIME ZONE rl.timezone)::date
                     FROM realms rl WHERE rl.code = insight_rollup_add.realm);
BEGIN
    IF fed_by IS NULL THEN
        PERFORM pb_raise('unknown_metric', jsonb_build_object('metric', metric));
    END IF;
    EXECUTE format('INSERT INTO indicator_rollup AS r (realm, month, station_id, source, %1$I) '
                   'VALUES ($1, $2, $3, $4, $5) ON CONFLICT (realm, month, station_id, source) '
                   'DO UPDATE SET %1$I = r.%1$I + excluded.%1$I', metric)
    USING realm, month, station_id, fed_by, value;
END $$;
