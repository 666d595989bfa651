-- The activity's confirmed count follows its sign-ups; `activities_capacity` then
-- refuses any statement that would seat more than the capacity (the row update
-- serializes concurrent sign-ups).
CREATE OR REPLACE FUNCTION activity_signups_count() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    delta integer := (NEW.status = 'confirmed')::integer
                   - (TG_OP = 'UPDATE' AND OLD.status = 'confirmed')::integer;
BEGIN
    IF delta <> 0 THEN
        UPDATE activities SET confirmed_count = confirmed_count + delta
         WHERE realm = NEW.realm AND id = NEW.activity_id;
    END IF;
    RETURN NULL;
END $$;
