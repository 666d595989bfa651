-- A checkpoint extends the previous one: next number, chained head, and exactly the
-- leaves sealed under it at the next positions (its leaves are inserted first).
CREATE OR REPLACE FUNCTION checkpoints_check_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    previous_seq   bigint := 0;
    previous_size  bigint := 0;
    previous_head  bytea;
    previous_below bigint := 0;
    leaf_count bigint;
    leaf_min   bigint;
    leaf_max   bigint;
BEGIN
    SELECT c.seq, c.tree_size, c.head_hash, c.sealed_below_txid
      INTO previous_seq, previous_size, previous_head, previous_below
      FROM checkpoints c WHERE c.realm = NEW.realm ORDER BY c.seq DESC LIMIT 1;
    IF NOT FOUND THEN
        previous_seq := 0; previous_size := 0; previous_below := 0;
    END IF;
    IF NEW.seq <> previous_seq + 1 OR NEW.previous_head_hash IS DISTINCT FROM previous_head
       OR NEW.sealed_below_txid < previous_below THEN
        PERFORM pb_raise('checkpoint_chain_broken', jsonb_build_object('realm', NEW.realm, 'seq', NEW.seq));
    END IF;
    SELECT count(*), min(leaf_index), max(leaf_index) INTO leaf_count, leaf_min, leaf_max
      FROM checkpoint_entries WHERE realm = NEW.realm AND checkpoint_seq = NEW.seq;
    IF leaf_count = 0 OR leaf_min <> previous_size OR leaf_max <> NEW.tree_size - 1
       OR leaf_count <> NEW.tree_size - previous_size THEN
        PERFORM pb_raise('checkpoint_leaves_mismatch', jsonb_build_object('realm', NEW.realm, 'seq', NEW.seq));
    END IF;
    RETURN NEW;
END $$;
