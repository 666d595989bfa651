-- activities_held: an activity closed counts once, at its station, in the month (realm
-- time) it started. Row-level with a WHEN clause: the many updates of an activity's
-- sign-up count never call it.
CREATE OR REPLACE FUNCTION insight_activities_held() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM insight_rollup_add(NEW.realm, NEW.station_id, NEW.starts_at, 'activities_held', 1);
    RETURN NULL;
END $$;
