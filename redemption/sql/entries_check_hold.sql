-- Invariant 7 at COMMIT, for an entry of a kind that touches hold accounts: the
-- realm's hold balance of each asset it moved equals its outstanding vouchers. The
-- entry's accounts are probed by key.
CREATE OR REPLACE FUNCTION entries_check_hold() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    hold_asset text;
BEGIN
    FOR hold_asset IN
        SELECT DISTINCT p.asset FROM postings p
         CROSS JOIN LATERAL (SELECT 1 FROM accounts a
                              WHERE a.realm = p.realm AND a.id = p.account_id AND a.kind = 'hold'
                              LIMIT 1) hold
         WHERE p.realm = NEW.realm AND p.entry_id = NEW.id LOOP
        PERFORM hold_check(NEW.realm, hold_asset);
    END LOOP;
    RETURN NULL;
END $$;
