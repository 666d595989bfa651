-- A service request moves only along its legal transitions:
--   open -> dispatched -> accepted -> done -> confirmed; dispatched -> open (decline,
--   timeout); open, dispatched, accepted -> cancelled. Confirmed and cancelled are final.
-- A request is born open, with no volunteer. What it asked for (who, where, what,
-- when) never changes; nothing is ever deleted.
CREATE OR REPLACE FUNCTION service_requests_check_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pb_raise('append_only', jsonb_build_object('table', TG_TABLE_NAME));
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.state <> 'open' OR NEW.volunteer_id IS NOT NULL OR NEW.rating IS NOT NULL THEN
            PERFORM pb_raise('transition_not_allowed', jsonb_build_object('to', NEW.state));
        END IF;
        RETURN NEW;
    END IF;
    IF (NEW.realm, NEW.id, NEW.requester_id, NEW.station_id, NEW.category, NEW.description,
        NEW.wanted_from, NEW.wanted_until, NEW.created_at, NEW.created_by)
       IS DISTINCT FROM
       (OLD.realm, OLD.id, OLD.requester_id, OLD.station_id, OLD.category, OLD.description,
        OLD.wanted_from, OLD.wanted_until, OLD.created_at, OLD.created_by) THEN
        PERFORM pb_raise('service_request_immutable', jsonb_build_object('request_id', OLD.id));
    END IF;
    IF OLD.state IN ('confirmed', 'cancelled') THEN
        PERFORM pb_raise('service_request_closed', jsonb_build_object('request_id', OLD.id, 'state', OLD.state));
    END IF;
    IF NEW.state IS DISTINCT FROM OLD.state AND (OLD.state, NEW.state) NOT IN (
            ('open', 'dispatched'), ('dispatched', 'accepted'), ('dispatched', 'open'),
            ('accepted', 'done'), ('done', 'confirmed'),
            ('open', 'cancelled'), ('dispatched', 'cancelled'), ('accepted', 'cancelled')) THEN
        PERFORM pb_raise('transition_not_allowed',
                         jsonb_build_object('request_id', OLD.id, 'from', OLD.state, 'to', NEW.state));
    END IF;
    IF NEW.state IN ('accepted', 'done', 'confirmed') AND NEW.volunteer_id IS DISTINCT FROM OLD.volunteer_id THEN
        PERFORM pb_raise('transition_not_allowed',
                         jsonb_build_object('request_id', OLD.id, 'detail', 'the volunteer changed'));
    END IF;
    IF NEW.state = 'done' AND OLD.state = 'accepted' AND NEW.minutes >
            floor(extract(epoch FROM NEW.wanted_until - NEW.wanted_from) / 60) THEN
        PERFORM pb_raise('minutes_beyond_window', jsonb_build_object('request_id', OLD.id));
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END $$;
