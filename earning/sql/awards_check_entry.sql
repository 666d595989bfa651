-- An award must match its entry: an earn entry of this realm crediting the resident's
-- account of the award's asset with exactly the award's points. Checked once per INSERT
-- statement (the earn entry and its postings are written before the awards that name
-- them): account, posting and entry probed per award.
CREATE OR REPLACE FUNCTION awards_check_entry() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    mismatched bigint;
BEGIN
    -- from each resident's account (one index probe), not from the entry's postings
    -- then its posting in the entry and the entry, each by its whole key
    SELECT aw.entry_id INTO mismatched
      FROM added aw
      LEFT JOIN LATERAL (
          SELECT true AS matched
            FROM accounts a
           CROSS JOIN LATERAL (SELECT p.amount FROM postings p
                                WHERE p.realm = a.realm AND p.entry_id = aw.entry_id AND p.account_id = a.id
                                LIMIT 1) p
           CROSS JOIN LATERAL (SELECT e.kind FROM entries e
                                WHERE e.realm = aw.realm AND e.id = aw.entry_id LIMIT 1) e
           WHERE a.realm = aw.realm AND a.resident_id = aw.resident_id AND a.asset = aw.asset
             AND a.kind = 'resident' AND e.kind = 'earn' AND p.amount = aw.points
           LIMIT 1) found ON true
     WHERE found.matched IS NULL
     LIMIT 1;
    IF FOUND THEN
        PERFORM pb_raise('award_entry_mismatch', jsonb_build_object('entry_id', mismatched));
    END IF;
    RETURN NULL;
END $$;
