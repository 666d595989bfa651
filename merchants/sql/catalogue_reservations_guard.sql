-- Only `returned_at` moves, once, and only by the release trigger (it runs as the owner;
-- the application role has no UPDATE right here).
CREATE OR REPLACE FUNCTION catalogue_reservations_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pb_raise('append_only', jsonb_build_object('table', 'catalogue_reservations', 'operation', TG_OP));
    END IF;
    IF OLD.returned_at IS NOT NULL
       OR (NEW.realm, NEW.voucher_id, NEW.item_id, NEW.merchant_id, NEW.points, NEW.created_at)
          IS DISTINCT FROM (OLD.realm, OLD.voucher_id, OLD.item_id, OLD.merchant_id, OLD.points, OLD.created_at) THEN
        PERFORM pb_raise('reservation_immutable', jsonb_build_object('voucher_id', OLD.voucher_id));
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
