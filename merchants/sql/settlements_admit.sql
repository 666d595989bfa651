-- A new settlement starts where the merchant's last one ended (no gap, no overlap). The
-- advisory lock queues concurrent settlements of one merchant.
CREATE OR REPLACE FUNCTION settlements_admit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    previous_end timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('settlement:' || NEW.realm || ':' || NEW.merchant_id, 0));
    NEW.created_at := clock_timestamp();
    IF NEW.status <> 'open' OR NEW.bank_reference IS NOT NULL THEN
        PERFORM pb_raise('settlement_not_open', '{}');
    END IF;
    SELECT max(s.period_end) INTO previous_end FROM settlements s
     WHERE s.realm = NEW.realm AND s.merchant_id = NEW.merchant_id;
    IF previous_end IS NOT NULL AND NEW.period_start < previous_end THEN
        PERFORM pb_raise('settlement_period_overlaps', jsonb_build_object(
            'merchant_id', NEW.merchant_id, 'settled_through', previous_end));
    END IF;
    IF previous_end IS NOT NULL AND NEW.period_start > previous_end THEN
        PERFORM pb_raise('settlement_period_gap', jsonb_build_object(
            'merchant_id', NEW.merchant_id, 'settled_through', previous_end));
    END IF;
    IF NEW.period_end > clock_timestamp() THEN
        PERFORM pb_raise('settlement_period_future', jsonb_build_object('period_end', NEW.period_end));
    END IF;
    RETURN NEW;
END $$;
