-- The running total of outstanding (issued) vouchers per realm and asset
-- (voucher_outstanding), kept in the same transaction as the voucher change, so invariant
-- 7 can be checked at COMMIT in constant time. The audit recomputes it from the vouchers
-- themselves (`hold_reconciliation`), so a tampered total is caught there.
CREATE OR REPLACE FUNCTION vouchers_count_outstanding() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    change bigint := 0;
BEGIN
    IF TG_OP = 'INSERT' AND NEW.status = 'issued' THEN
        change := NEW.amount;
    ELSIF TG_OP = 'UPDATE' AND OLD.status = 'issued' AND NEW.status <> 'issued' THEN
        change := -OLD.amount;
    END IF;
    IF change <> 0 THEN
        -- the hold account first, as an issue's entry takes it before its voucher row:
        -- one lock order for issue, capture and release, so they never deadlock
        PERFORM 1 FROM accounts a WHERE a.realm = NEW.realm AND a.id = NEW.hold_account_id FOR UPDATE;
    END IF;
    IF change > 0 THEN
        INSERT INTO voucher_outstanding AS o (realm, asset, amount)
        VALUES (NEW.realm, NEW.asset, change)
        ON CONFLICT (realm, asset) DO UPDATE SET amount = o.amount + excluded.amount;
    ELSIF change < 0 THEN  -- (a negative proposed row would fail the CHECK before the conflict)
        UPDATE voucher_outstanding o SET amount = o.amount + change
         WHERE o.realm = NEW.realm AND o.asset = NEW.asset;
    END IF;
    RETURN NULL;
END $$;
