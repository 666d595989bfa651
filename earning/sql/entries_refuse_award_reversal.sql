-- An earn entry that carries awards is not reversed wholesale: its awards would then
-- claim points the ledger took back. A single award is corrected with an adjustment.
CREATE OR REPLACE FUNCTION entries_refuse_award_reversal() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM awards a WHERE a.realm = NEW.realm AND a.entry_id = NEW.reverses_entry_id) THEN
        PERFORM pb_raise('entry_not_reversible', jsonb_build_object(
            'entry_id', NEW.reverses_entry_id,
            'reason', 'it pays attendance awards; correct one award with an adjustment'));
    END IF;
    RETURN NEW;
END $$;
