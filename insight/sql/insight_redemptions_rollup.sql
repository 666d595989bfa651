-- spent_<merchant kind>: points redeemed, at the station of the voucher's resident, in
-- the month (realm time) of the redemption. Probes by key: the voucher, its resident,
-- the merchant (in its own realm for a cross-realm redemption).
CREATE OR REPLACE FUNCTION insight_redemptions_rollup() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO indicator_rollup AS r (realm, station_id, month, metric, value)
    SELECT d.realm, p.station_id, date_trunc('month', d.created_at AT TIME ZONE rl.timezone)::date,
           'spent_' || m.kind, sum(d.amount)
      FROM added d
      CROSS JOIN LATERAL (SELECT v.resident_id FROM vouchers v
                           WHERE v.realm = d.realm AND v.id = d.voucher_id LIMIT 1) v
      CROSS JOIN LATERAL (SELECT x.station_id FROM residents x
                           WHERE x.realm = d.realm AND x.id = v.resident_id LIMIT 1) p
      CROSS JOIN LATERAL (SELECT x.kind FROM merchants x
                           WHERE x.realm = d.merchant_realm AND x.id = d.merchant_id LIMIT 1) m
      CROSS JOIN LATERAL (SELECT x.timezone FROM realms x WHERE x.code = d.realm LIMIT 1) rl
     GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (realm, station_id, month, metric) DO UPDATE SET value = r.value + excluded.value;
    RETURN NULL;
END $$;
