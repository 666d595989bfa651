-- The balance still moves only from inside the posting trigger, and only forward.
CREATE OR REPLACE FUNCTION accounts_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pb_raise('append_only', jsonb_build_object('table', 'accounts', 'operation', TG_OP));
    END IF;
    IF (NEW.realm, NEW.id, NEW.kind, NEW.asset, NEW.created_at)
           IS DISTINCT FROM (OLD.realm, OLD.id, OLD.kind, OLD.asset, OLD.created_at)
       OR (NEW.floor, NEW.resident_id, NEW.merchant_id, NEW.counterpart_realm)
           IS DISTINCT FROM (OLD.floor, OLD.resident_id, OLD.merchant_id, OLD.counterpart_realm) THEN
        PERFORM pb_raise('account_immutable', jsonb_build_object('account_id', OLD.id));
    END IF;
    IF (NEW.balance, NEW.posting_count) IS DISTINCT FROM (OLD.balance, OLD.posting_count)
       AND (pg_trigger_depth() < 2 OR NEW.posting_count <= OLD.posting_count) THEN
        PERFORM pb_raise('balance_is_derived', jsonb_build_object('account_id', OLD.id));
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
