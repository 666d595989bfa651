-- A statement never changes; payment is recorded once.
CREATE OR REPLACE FUNCTION settlements_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pb_raise('append_only', jsonb_build_object('table', 'settlements', 'operation', TG_OP));
    END IF;
    IF (NEW.realm, NEW.id, NEW.merchant_id, NEW.period_start, NEW.period_end, NEW.points,
        NEW.fen_per_point, NEW.amount_fen, NEW.entry_id, NEW.statement, NEW.statement_sha256,
        NEW.signature, NEW.key_id, NEW.created_by, NEW.created_at)
       IS DISTINCT FROM
       (OLD.realm, OLD.id, OLD.merchant_id, OLD.period_start, OLD.period_end, OLD.points,
        OLD.fen_per_point, OLD.amount_fen, OLD.entry_id, OLD.statement, OLD.statement_sha256,
        OLD.signature, OLD.key_id, OLD.created_by, OLD.created_at) THEN
        PERFORM pb_raise('statement_immutable', jsonb_build_object('settlement_id', OLD.id));
    END IF;
    IF OLD.status = 'paid' THEN
        PERFORM pb_raise('settlement_already_paid', jsonb_build_object('settlement_id', OLD.id));
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
