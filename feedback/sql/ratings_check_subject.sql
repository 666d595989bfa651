-- Only who took part rates: an activity's rater was awarded for it or checked in; a
-- service request's rater is its requester, once it is confirmed.
CREATE OR REPLACE FUNCTION ratings_check_subject() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.subject_kind = 'activity' THEN
        IF NOT EXISTS (SELECT 1 FROM awards WHERE realm = NEW.realm AND activity_id = NEW.subject_id
                                                AND resident_id = NEW.rater_id)
           AND NOT EXISTS (SELECT 1 FROM activity_checkins WHERE realm = NEW.realm
                              AND activity_id = NEW.subject_id AND resident_id = NEW.rater_id) THEN
            PERFORM pb_raise('activity_not_attended', jsonb_build_object('activity_id', NEW.subject_id));
        END IF;
    ELSIF NOT EXISTS (SELECT 1 FROM service_requests WHERE realm = NEW.realm AND id = NEW.subject_id
                         AND requester_id = NEW.rater_id AND state = 'confirmed') THEN
        PERFORM pb_raise('rating_not_allowed', jsonb_build_object('request_id', NEW.subject_id));
    END IF;
    RETURN NEW;
END $$;
