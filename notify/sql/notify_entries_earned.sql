-- points.earned: one event per earn entry, one INSERT per statement with no look-up (the
-- hot path of earning). Who was credited, and how much, the dispatcher reads from the
-- entry's postings, which never change.
CREATE OR REPLACE FUNCTION notify_entries_earned() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO events (realm, type, subject_id)
    SELECT a.realm, 'points.earned', a.id FROM added a WHERE a.kind = 'earn';
    RETURN NULL;
END $$;
