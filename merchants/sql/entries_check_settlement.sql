-- At COMMIT, a settle entry belongs to a settlement, and each merchant account it debits
-- has that settlement's range for exactly those points: points leave a merchant only with
-- a signed statement saying which lines they were. The entry's accounts probed by key.
CREATE OR REPLACE FUNCTION entries_check_settlement() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    owning_settlement bigint;
BEGIN
    SELECT s.id INTO owning_settlement FROM settlements s WHERE s.realm = NEW.realm AND s.entry_id = NEW.id;
    IF NOT FOUND OR EXISTS (
        SELECT 1 FROM postings p
         CROSS JOIN LATERAL (SELECT 1 FROM accounts a
                              WHERE a.realm = p.realm AND a.id = p.account_id AND a.kind = 'merchant'
                              LIMIT 1) merchant
          LEFT JOIN LATERAL (SELECT sa.points FROM settlement_accounts sa
                              WHERE sa.realm = p.realm AND sa.settlement_id = owning_settlement
                                AND sa.account_id = p.account_id LIMIT 1) sa ON true
         WHERE p.realm = NEW.realm AND p.entry_id = NEW.id
           AND (sa.points IS NULL OR sa.points <> -p.amount)) THEN
        PERFORM pb_raise('settle_without_settlement', jsonb_build_object('entry_id', NEW.id));
    END IF;
    RETURN NULL;
END $$;
