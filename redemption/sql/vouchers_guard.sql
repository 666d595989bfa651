-- Invariant 8: `issued` -> one terminal status, once; nothing else ever changes.
CREATE OR REPLACE FUNCTION vouchers_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pb_raise('append_only', jsonb_build_object('table', 'vouchers', 'operation', TG_OP));
    END IF;
    IF OLD.status <> 'issued' THEN
        PERFORM pb_raise('voucher_closed', jsonb_build_object('voucher_id', OLD.id, 'status', OLD.status));
    END IF;
    IF (NEW.realm, NEW.id, NEW.serial, NEW.short_code, NEW.code, NEW.key_id, NEW.resident_id,
        NEW.resident_account_id, NEW.hold_account_id, NEW.asset, NEW.amount,
        NEW.scope_merchant_id, NEW.scope_merchant_kind, NEW.expires_at, NEW.hold_entry_id,
        NEW.idempotency_key, NEW.request_hash, NEW.created_by, NEW.created_at)
       IS DISTINCT FROM
       (OLD.realm, OLD.id, OLD.serial, OLD.short_code, OLD.code, OLD.key_id, OLD.resident_id,
        OLD.resident_account_id, OLD.hold_account_id, OLD.asset, OLD.amount,
        OLD.scope_merchant_id, OLD.scope_merchant_kind, OLD.expires_at, OLD.hold_entry_id,
        OLD.idempotency_key, OLD.request_hash, OLD.created_by, OLD.created_at) THEN
        PERFORM pb_raise('voucher_immutable', jsonb_build_object('voucher_id', OLD.id));
    END IF;
    IF NEW.status = 'expired' AND NEW.expires_at > now() THEN
        PERFORM pb_raise('voucher_not_expired', jsonb_build_object('voucher_id', OLD.id));
    END IF;
    IF NEW.status IN ('redeemed', 'partially_redeemed') AND NEW.expires_at <= now() THEN
        PERFORM pb_raise('voucher_expired', jsonb_build_object('voucher_id', OLD.id));
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
