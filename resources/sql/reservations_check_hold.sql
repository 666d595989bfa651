-- Invariant 7 at COMMIT for a transaction that books or closes a priority reservation.
CREATE OR REPLACE FUNCTION reservations_check_hold() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM hold_check(NEW.realm, NEW.asset);
    RETURN NULL;
END $$;
