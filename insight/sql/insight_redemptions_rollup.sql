-- spent_<merchant kind>: points redeemed, at the station of the voucher's resident, in
-- the month (realm time) of the redemption. Probes by key: the voucher, its resident,
-- the merchant (in its own realm for a cross-realm redemption).
CREATE OR REPLACE FUNCTION insight_redemptions_rollup() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO indicator_rollup AS r (realm, month, station_id, source, spent_general, spent_agri_shop,
                                       spent_service_provider)
    SELECT d.realm, date_trunc('month', d.created_at AT TIME ZONE rl.timezone)::date, p.station_id, 'redemptions',
           coalesce(sum(d.amount) FILTER (WHERE m.kind = 'general'), 0),
           coalesce(sum(d.amount) FILTER (WHERE m.kind = 'agri_shop'), 0),
           coalesce(sum(d.amount) FILTER (WHERE m.kind = 'service_provider'), 0)
      FROM added d
      CROSS JOIN LATERAL (SELECT v.resident_id FROM vouchers v
                           WHERE v.realm = d.realm AND v.id = d.voucher_id LIMIT 1) v
      CROSS JOIN LATERAL (SELECT x.station_id FROM residents x
                           WHERE x.realm = d.realm AND x.id = v.resident_id LIMIT 1) p
      CROSS JOIN LATERAL (SELECT x.kind FROM merchants x
                           WHERE x.realm = d.merchant_realm AND x.id = d.merchant_id LIMIT 1) m
      CROSS JOIN LATERAL (SELECT x.timezone FROM realms x WHERE x.code = d.realm LIMIT 1) rl
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (realm, month, station_id, source) DO UPDATE SET
        spent_general = r.spent_general + excluded.spent_general,
        spent_agri_shop = r.spent_agri_shop + excluded.spent_agri_shop,
        spent_service_provider = r.spent_service_provider + excluded.spent_service_provider;
    RETURN NULL;
END $$;
