-- Service requests opened: per (the request's station, month it was opened).
CREATE OR REPLACE FUNCTION insight_requests_opened() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    opened record;
BEGIN
    FOR opened IN SELECT n.realm, n.station_id, n.created_at FROM added n ORDER BY 1, 2, 3 LOOP
        PERFORM insight_rollup_add(opened.realm, opened.station_id, opened.created_at, 'requests_opened', 1);
    END LOOP;
    RETURN NULL;
END $$;
