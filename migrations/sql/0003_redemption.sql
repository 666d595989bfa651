-- Redemption: merchant registry, signing keys, vouchers, redemptions
-- (reserved: filled in by its issue)
SELECT 1;
