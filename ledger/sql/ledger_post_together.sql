-- Group commit, set-based: a batch of new, ordinary entries goes in with one INSERT of
-- entries and one of postings (ledger_write_postings), so the posting check runs once per
-- batch, not once per entry. Returns the results of ledger_post_entry, in request order,
-- or NULL when the batch must go one entry at a time (a reversal, a replayed or repeated
-- key, an entry with fewer than two lines, an account twice in one entry, a zero amount),
-- found from the requests alone, or when the book refuses anything (an unknown account,
-- an unbalanced entry, a floor crossed, an entry rule): then nothing of the batch stays
-- written (one subtransaction per batch, not per entry). The caller holds the accounts'
-- locks.
CREATE OR REPLACE FUNCTION ledger_post_together(requests jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    line_n        bigint[];
    line_realm    text[];
    line_account  bigint[];
    line_amount   bigint[];
    entry_ids     bigint[];
    entry_times   timestamptz[];
    ordinary      boolean;
BEGIN
    BEGIN
        -- Only new entries of ordinary kinds, each key once, at least two lines each.
        SELECT bool_and(coalesce(r->>'kind' <> 'reversal' AND r->>'reverses_entry_id' IS NULL
                                 AND jsonb_array_length(r->'postings') >= 2, false))
               AND count(DISTINCT (r->>'realm', r->>'idempotency_key'))
                   FILTER (WHERE r->>'idempotency_key' IS NOT NULL)
                 = count(*) FILTER (WHERE r->>'idempotency_key' IS NOT NULL)
               AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(requests) k
                                CROSS JOIN LATERAL (SELECT 1 FROM entries e
                                                     WHERE e.realm = k->>'realm'
                                                       AND e.idempotency_key = k->>'idempotency_key'
                                                     LIMIT 1) used)
          INTO ordinary FROM jsonb_array_elements(requests) r;
        IF NOT coalesce(ordinary, false) THEN
            RETURN NULL;
        END IF;

        -- The lines, entry after entry (each entry's by account): non-zero, each account once
        -- per entry.
        SELECT array_agg(l.n ORDER BY l.n, l.account_id), array_agg(l.realm ORDER BY l.n, l.account_id),
               array_agg(l.account_id ORDER BY l.n, l.account_id), array_agg(l.amount ORDER BY l.n, l.account_id),
               coalesce(bool_and(l.amount <> 0), false) AND count(DISTINCT (l.n, l.account_id)) = count(*)
          INTO line_n, line_realm, line_account, line_amount, ordinary
          FROM (SELECT i.n, i.r->>'realm' AS realm, (p->>'account_id')::bigint AS account_id,
                       (p->>'amount')::bigint AS amount
                  FROM jsonb_array_elements(requests) WITH ORDINALITY AS i (r, n),
                       jsonb_array_elements(i.r->'postings') p) l;
        IF NOT coalesce(ordinary, false) THEN
            RETURN NULL;
        END IF;

        -- The entries, in request order: ids are drawn in insertion order, so the sorted ids
        -- are the requests' ids in turn.
        WITH made AS (
            INSERT INTO entries (realm, kind, idempotency_key, request_hash, reference, memo,
                                 created_by, created_at, created_txid)
            SELECT i.r->>'realm', i.r->>'kind', i.r->>'idempotency_key',
                   decode(i.r->>'request_hash', 'hex'), i.r->>'reference', i.r->>'memo',
                   i.r->>'created_by', now(), 0
              FROM jsonb_array_elements(requests) WITH ORDINALITY AS i (r, n)
             ORDER BY i.n
            RETURNING id, created_at)
        SELECT array_agg(id ORDER BY id), array_agg(created_at ORDER BY id)
          INTO entry_ids, entry_times FROM made;

        WITH per_entry AS (
            SELECT w.entry_id, jsonb_agg(jsonb_build_object(
                       'account_id', w.account_id, 'asset', w.asset, 'amount', w.amount,
                       'balance_after', w.balance_after) ORDER BY w.account_id) AS postings
              FROM ledger_write_postings(
                       line_realm, ARRAY(SELECT entry_ids[x.n] FROM unnest(line_n) WITH ORDINALITY AS x (n, k)
                                          ORDER BY x.k),
                       line_account, line_amount) w
             GROUP BY w.entry_id)
        SELECT jsonb_agg(jsonb_build_object(
                   'realm', i.r->>'realm', 'id', entry_ids[i.n], 'kind', i.r->>'kind',
                   'reverses_entry_id', NULL, 'reference', i.r->>'reference', 'memo', i.r->>'memo',
                   'created_by', i.r->>'created_by', 'created_at', entry_times[i.n],
                   'postings', pe.postings, 'replayed', false) ORDER BY i.n)
          INTO requests
          FROM jsonb_array_elements(requests) WITH ORDINALITY AS i (r, n)
          JOIN per_entry pe ON pe.entry_id = entry_ids[i.n];
        RETURN requests;
    EXCEPTION WHEN raise_exception OR integrity_constraint_violation OR data_exception THEN
        RETURN NULL;  -- the book refused something: one entry at a time names it
    END;
END $$;
