-- The default catalogue (the seed's scheme): talk 10, volunteering 20, training 15, any
-- other type 5, plus 2 points per full hour; 4 creditable hours; 100 points a day.
CREATE OR REPLACE FUNCTION earning_default_catalogue(catalogue_realm text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO activity_types (realm, code, name)
    VALUES (catalogue_realm, 'talk', '宣讲'), (catalogue_realm, 'volunteering', '志愿服务'),
           (catalogue_realm, 'training', '培训'), (catalogue_realm, 'other', '其他活动')
    ON CONFLICT DO NOTHING;
    INSERT INTO activity_rules (realm, activity_type, version, asset, base_points, points_per_hour,
                                creditable_minutes_max, daily_cap_points, created_by)
    SELECT catalogue_realm, t.code, 1, 'civic', t.base, 2, 240, 100, 'default catalogue'
      FROM (VALUES ('talk', 10), ('volunteering', 20), ('training', 15), ('other', 5)) t (code, base)
    ON CONFLICT DO NOTHING;
$$;
