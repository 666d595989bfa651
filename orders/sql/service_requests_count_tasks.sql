-- A volunteer's open tasks (dispatched or accepted requests) counted as requests move:
-- dispatch suggestions prefer the volunteers with the fewest.
CREATE OR REPLACE FUNCTION service_requests_count_tasks() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    was_open boolean := OLD.state IN ('dispatched', 'accepted');
    is_open  boolean := NEW.state IN ('dispatched', 'accepted');
BEGIN
    IF was_open AND (NOT is_open OR NEW.volunteer_id IS DISTINCT FROM OLD.volunteer_id) THEN
        UPDATE volunteers SET open_tasks = open_tasks - 1
         WHERE realm = OLD.realm AND resident_id = OLD.volunteer_id;
    END IF;
    IF is_open AND (NOT was_open OR NEW.volunteer_id IS DISTINCT FROM OLD.volunteer_id) THEN
        UPDATE volunteers SET open_tasks = open_tasks + 1
         WHERE realm = NEW.realm AND resident_id = NEW.volunteer_id;
    END IF;
    RETURN NULL;
END $$;
