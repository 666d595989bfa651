-- Service requests completed: a request entering `confirmed` (the requester confirmed the
-- work; the loop is closed and paid), per (its station, month of the confirmation), with
-- the whole seconds from opening to confirmation summed (time to complete = sum / count).
CREATE OR REPLACE FUNCTION insight_requests_completed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    done record;
BEGIN
    FOR done IN
        SELECT n.realm, n.station_id, n.confirmed_at,
               floor(extract(epoch FROM n.confirmed_at - n.created_at))::bigint AS seconds
          FROM after_rows n JOIN before_rows o ON o.realm = n.realm AND o.id = n.id
         WHERE n.state = 'confirmed' AND o.state <> 'confirmed'
         ORDER BY 1, 2, 3
    LOOP
        PERFORM insight_rollup_add(done.realm, done.station_id, done.confirmed_at, 'requests_completed', 1);
        PERFORM insight_rollup_add(done.realm, done.station_id, done.confirmed_at, 'request_complete_s_sum',
                                   greatest(done.seconds, 0));
    END LOOP;
    RETURN NULL;
END $$;
