-- The one call that writes an event (for code that is not one of the triggers below):
-- in the caller's transaction, so the event commits or rolls back with the change.
--   SELECT notify_emit('430104', 'reservation.booked', reservation_id,
--                      resident_id => 12, payload => jsonb_build_object('slot_id', 7));
-- A `dedup_key` makes a second emit of the same fact a no-op (answers NULL).
CREATE OR REPLACE FUNCTION notify_emit(realm text, type text, subject_id bigint DEFAULT NULL,
                                       resident_id bigint DEFAULT NULL, merchant_id bigint DEFAULT NULL,
                                       payload jsonb DEFAULT '{}', dedup_key text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    made bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM event_types t WHERE t.code = notify_emit.type) THEN
        PERFORM pb_raise('unknown_event_type', jsonb_build_object('type', notify_emit.type));
    END IF;
    INSERT INTO events AS e (realm, type, subject_id, resident_id, merchant_id, payload, dedup_key)
    VALUES (notify_emit.realm, notify_emit.type, notify_emit.subject_id, notify_emit.resident_id,
            notify_emit.merchant_id, coalesce(notify_emit.payload, '{}'), notify_emit.dedup_key)
    ON CONFLICT ON CONSTRAINT events_dedup DO NOTHING
    RETURNING e.id INTO made;
    RETURN made;
END $$;
