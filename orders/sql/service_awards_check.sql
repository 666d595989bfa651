-- A service award matches its request and its entry: the request is confirmed; a
-- volunteer award pays the request's volunteer and counts on the realm day the service
-- was done (its daily cap's day: `done_at` in the realm's time zone), a rating award
-- pays its requester (who rated it); the entry is an earn entry of the realm crediting
-- that resident's account of the award's asset with exactly the award's points (posted
-- before the award goes in).
CREATE OR REPLACE FUNCTION service_awards_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    request record;
BEGIN
    SELECT s.state, s.volunteer_id, s.requester_id, s.rating,
           (s.done_at AT TIME ZONE r.timezone)::date AS done_day
      INTO request FROM service_requests s JOIN realms r ON r.code = s.realm
     WHERE s.realm = NEW.realm AND s.id = NEW.request_id;
    IF request.state IS DISTINCT FROM 'confirmed'
       OR (NEW.kind = 'volunteer' AND (NEW.resident_id IS DISTINCT FROM request.volunteer_id
                                       OR NEW.award_day IS DISTINCT FROM request.done_day))
       OR (NEW.kind = 'rating' AND (NEW.resident_id IS DISTINCT FROM request.requester_id
                                    OR request.rating IS NULL)) THEN
        PERFORM pb_raise('service_award_mismatch', jsonb_build_object('request_id', NEW.request_id));
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM accounts a
          JOIN postings p ON p.realm = a.realm AND p.entry_id = NEW.entry_id AND p.account_id = a.id
          JOIN entries e ON e.realm = p.realm AND e.id = p.entry_id
         WHERE a.realm = NEW.realm AND a.resident_id = NEW.resident_id AND a.asset = NEW.asset
           AND a.kind = 'resident' AND e.kind = 'earn' AND p.amount = NEW.points) THEN
        PERFORM pb_raise('service_award_mismatch', jsonb_build_object('entry_id', NEW.entry_id));
    END IF;
    RETURN NULL;
END $$;
