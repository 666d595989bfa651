-- A new voucher: issued, and within its resident's outstanding limit. The advisory lock
-- queues a resident's concurrent issues so the count cannot be raced.
CREATE OR REPLACE FUNCTION vouchers_admit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    outstanding_max integer;
    outstanding     integer;
BEGIN
    IF NEW.status <> 'issued' OR NEW.captured_amount IS NOT NULL OR NEW.closed_at IS NOT NULL THEN
        PERFORM pb_raise('voucher_not_issued', '{}');
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('voucher-resident:' || NEW.realm || ':' || NEW.resident_id, 0));
    SELECT p.outstanding_max INTO outstanding_max FROM voucher_policies p WHERE p.realm = NEW.realm;
    SELECT count(*) INTO outstanding FROM vouchers v
     WHERE v.realm = NEW.realm AND v.resident_id = NEW.resident_id AND v.status = 'issued';
    IF outstanding >= coalesce(outstanding_max, 20) THEN
        PERFORM pb_raise('voucher_limit_reached',
                         jsonb_build_object('outstanding', outstanding, 'limit', coalesce(outstanding_max, 20)));
    END IF;
    RETURN NEW;
END $$;
