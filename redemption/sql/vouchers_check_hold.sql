-- Invariant 7 at COMMIT of a transaction that changed a voucher (hold_check).
CREATE OR REPLACE FUNCTION vouchers_check_hold() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM hold_check(NEW.realm, NEW.asset);
    RETURN NULL;
END $$;
