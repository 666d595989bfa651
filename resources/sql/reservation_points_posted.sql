-- Whether `entry` is the `kind` entry that moves a priority reservation's `price` between
-- its hold account (debited or credited) and `counterpart`: probed by key.
CREATE OR REPLACE FUNCTION reservation_points_posted(entry_realm text, entry bigint, expected_kind text,
                                                     hold bigint, counterpart bigint, price bigint,
                                                     hold_sign integer) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM entries e WHERE e.realm = entry_realm AND e.id = entry AND e.kind = expected_kind)
       AND EXISTS (SELECT 1 FROM postings p WHERE p.realm = entry_realm AND p.entry_id = entry
                      AND p.account_id = hold AND p.amount = hold_sign * price)
       AND EXISTS (SELECT 1 FROM postings p WHERE p.realm = entry_realm AND p.entry_id = entry
                      AND p.account_id = counterpart AND p.amount = -hold_sign * price)
$$;
