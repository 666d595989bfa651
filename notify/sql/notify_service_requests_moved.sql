-- service_request.dispatched / accepted / done / confirmed / cancelled: a request entering
-- that state. Dispatched reaches the volunteer it was given to (a task); the others the
-- requester. No address or notes in the payload (they are the requester's).
CREATE OR REPLACE FUNCTION notify_service_requests_moved() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO events (realm, type, subject_id, resident_id, payload)
    SELECT n.realm, 'service_request.' || n.state, n.id,
           CASE n.state WHEN 'dispatched' THEN n.volunteer_id ELSE n.requester_id END,
           jsonb_build_object('request_id', n.id, 'state', n.state, 'category', n.category,
                              'station_id', n.station_id, 'urgent', n.urgent, 'minutes', n.minutes)
      FROM after_rows n JOIN before_rows o ON o.realm = n.realm AND o.id = n.id
     WHERE n.state IS DISTINCT FROM o.state
       AND n.state IN ('dispatched', 'accepted', 'done', 'confirmed', 'cancelled')
     ORDER BY n.realm, n.id;
    RETURN NULL;
END $$;
