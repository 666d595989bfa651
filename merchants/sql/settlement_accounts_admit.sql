-- A settled range starts right after the account's previous one, lies within the
-- account's postings, adds up to `points` (settle postings excluded), and the
-- settlement's entry takes exactly those points off the account. The range's entries
-- are probed by key, one per posting.
CREATE OR REPLACE FUNCTION settlement_accounts_admit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    previous_through bigint;
    account          accounts;
    range_points     bigint;
    moved            bigint;
    settle_entry     bigint;
BEGIN
    SELECT * INTO account FROM accounts a WHERE a.realm = NEW.realm AND a.id = NEW.account_id;
    SELECT s.entry_id INTO settle_entry FROM settlements s
     WHERE s.realm = NEW.realm AND s.id = NEW.settlement_id AND s.merchant_id = account.merchant_id;
    IF NOT FOUND OR account.kind <> 'merchant' OR account.asset <> NEW.asset THEN
        PERFORM pb_raise('settlement_account_mismatch', jsonb_build_object('account_id', NEW.account_id));
    END IF;
    SELECT max(sa.seq_through) INTO previous_through FROM settlement_accounts sa
     WHERE sa.realm = NEW.realm AND sa.account_id = NEW.account_id;
    IF NEW.seq_after <> coalesce(previous_through, 0) OR NEW.seq_through > account.posting_count THEN
        PERFORM pb_raise('settlement_range_invalid', jsonb_build_object(
            'account_id', NEW.account_id, 'seq_after', NEW.seq_after,
            'settled_through', coalesce(previous_through, 0)));
    END IF;
    SELECT coalesce(sum(p.amount), 0) INTO range_points
      FROM postings p
     CROSS JOIN LATERAL (SELECT e.kind FROM entries e WHERE e.realm = p.realm AND e.id = p.entry_id LIMIT 1) e
     WHERE p.realm = NEW.realm AND p.account_id = NEW.account_id
       AND p.account_seq > NEW.seq_after AND p.account_seq <= NEW.seq_through AND e.kind <> 'settle';
    SELECT coalesce(-sum(p.amount), 0) INTO moved FROM postings p
     WHERE p.realm = NEW.realm AND p.entry_id = settle_entry AND p.account_id = NEW.account_id;
    IF range_points <> NEW.points OR moved <> NEW.points THEN
        PERFORM pb_raise('settlement_points_mismatch', jsonb_build_object(
            'account_id', NEW.account_id, 'points', NEW.points, 'range_points', range_points,
            'moved', moved));
    END IF;
    RETURN NEW;
END $$;
