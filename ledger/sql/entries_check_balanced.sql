-- At COMMIT, every new entry has at least two postings and balances per asset
-- (invariant 1); a reversal mirrors an entry of a reversible kind exactly.
CREATE OR REPLACE FUNCTION entries_check_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    posting_total bigint;
    balanced      boolean;
    original_kind text;
BEGIN
    SELECT coalesce(sum(n), 0), coalesce(bool_and(total = 0), true)
      INTO posting_total, balanced
      FROM (SELECT count(*) AS n, sum(p.amount) AS total
              FROM postings p WHERE p.realm = NEW.realm AND p.entry_id = NEW.id
             GROUP BY p.asset) per_asset;
    IF posting_total < 2 THEN
        PERFORM pb_raise('entry_too_few_postings', jsonb_build_object('entry_id', NEW.id));
    END IF;
    IF NOT balanced THEN
        PERFORM pb_raise('entry_unbalanced', jsonb_build_object('entry_id', NEW.id));
    END IF;
    IF NEW.reverses_entry_id IS NOT NULL THEN
        SELECT e.kind INTO original_kind FROM entries e
         WHERE e.realm = NEW.realm AND e.id = NEW.reverses_entry_id;
        IF original_kind NOT IN ('fund', 'earn', 'adjustment') THEN
            PERFORM pb_raise('entry_not_reversible', jsonb_build_object('entry_id', NEW.reverses_entry_id));
        END IF;
        IF EXISTS (
            (SELECT account_id, -amount FROM postings
              WHERE realm = NEW.realm AND entry_id = NEW.reverses_entry_id
             EXCEPT
             SELECT account_id, amount FROM postings
              WHERE realm = NEW.realm AND entry_id = NEW.id)
            UNION ALL
            (SELECT account_id, amount FROM postings
              WHERE realm = NEW.realm AND entry_id = NEW.id
             EXCEPT
             SELECT account_id, -amount FROM postings
              WHERE realm = NEW.realm AND entry_id = NEW.reverses_entry_id)) THEN
            PERFORM pb_raise('reversal_not_mirror', jsonb_build_object('entry_id', NEW.id));
        END IF;
    END IF;
    RETURN NULL;
END $$;
