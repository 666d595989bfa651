-- A voucher released (cancelled or expired) gives its item's stock back, in the same
-- transaction as the release, whichever path released it (API, CLI, the service's expiry
-- loop). A redeemed voucher keeps its stock taken.
CREATE OR REPLACE FUNCTION vouchers_return_stock() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    returned catalogue_reservations;
BEGIN
    UPDATE catalogue_reservations r SET returned_at = now()
     WHERE r.realm = NEW.realm AND r.voucher_id = NEW.id AND r.returned_at IS NULL
    RETURNING * INTO returned;
    IF FOUND THEN
        UPDATE catalogue_items i SET stock = i.stock + 1
         WHERE i.realm = returned.realm AND i.id = returned.item_id AND i.stock IS NOT NULL;
    END IF;
    RETURN NULL;
END $$;
