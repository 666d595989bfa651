-- Every new realm gets the default catalogue (earning_default_catalogue).
CREATE OR REPLACE FUNCTION realms_default_catalogue() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM earning_default_catalogue(NEW.code);
    RETURN NULL;
END $$;
