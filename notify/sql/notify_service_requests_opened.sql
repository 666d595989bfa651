-- service_request.opened: a new request, for the realm's staff (the dispatchers' inboxes).
-- No address or notes in the payload (they are the requester's).
CREATE OR REPLACE FUNCTION notify_service_requests_opened() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO events (realm, type, subject_id, resident_id, payload)
    SELECT n.realm, 'service_request.opened', n.id, NULL,
           jsonb_build_object('request_id', n.id, 'state', n.state, 'category', n.category,
                              'station_id', n.station_id, 'urgent', n.urgent)
      FROM added_rows n
     ORDER BY n.realm, n.id;
    RETURN NULL;
END $$;
