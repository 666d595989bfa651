-- A volunteer's service award counts against the 志愿 rule's daily cap like an
-- attendance award: it names the rule's activity type and the realm day the service
-- was done on (`done_at` in the realm's time zone), so that
-- earning_earned_on_day(realm, resident, activity type, day) sums both kinds. A rating
-- award is the realm's fixed reward, under no rule: neither is set.
ALTER TABLE service_awards
    ADD COLUMN activity_type text,
    ADD COLUMN award_day date;

-- The awards paid so far were all by the 志愿 rule (activity type `volunteering`);
-- service_awards is append-only, so its guard is off for this one backfill (in this
-- transaction only: a failure rolls the whole revision back, guard included).
ALTER TABLE service_awards DISABLE TRIGGER service_awards_append_only;
UPDATE service_awards sa
   SET activity_type = 'volunteering',
       award_day = (coalesce(sr.done_at, sr.confirmed_at, sa.created_at) AT TIME ZONE r.timezone)::date
  FROM service_requests sr, realms r
 WHERE sa.kind = 'volunteer' AND sr.realm = sa.realm AND sr.id = sa.request_id AND r.code = sa.realm;
ALTER TABLE service_awards ENABLE TRIGGER service_awards_append_only;

ALTER TABLE service_awards
    ADD CONSTRAINT service_awards_rule_day CHECK (
        (kind = 'volunteer') = (activity_type IS NOT NULL)
        AND (kind = 'volunteer') = (award_day IS NOT NULL)),
    ADD CONSTRAINT service_awards_rule_fkey FOREIGN KEY (realm, activity_type, rule_version)
        REFERENCES activity_rules (realm, activity_type, version);

-- The daily cap's look-up (earning_earned_on_day), by key: as awards_resident_day.
CREATE INDEX service_awards_resident_day ON service_awards (realm, resident_id, activity_type, award_day)
    WHERE activity_type IS NOT NULL;
