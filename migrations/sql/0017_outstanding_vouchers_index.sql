-- The outstanding-voucher limit counts a resident's issued vouchers at every issue
-- (redemption/sql/vouchers_admit.sql). Through `vouchers_resident` that count visited
-- every voucher the resident ever had, redeemed and expired included, so an issue grew
-- slower with a resident's history; this index holds the issued ones only (at most the
-- realm's limit per resident), and the count reads nothing else.
CREATE INDEX vouchers_resident_outstanding ON vouchers (realm, resident_id) WHERE status = 'issued';
