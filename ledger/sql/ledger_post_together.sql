-- Group commit, set-based: a batch of new, ordinary entries goes in with one INSERT of
-- entries and one of postings (so the posting check runs once per batch, not once per
-- entry). Returns the results of ledger_post_entry, in request order, or NULL when the
-- batch must go one entry at a time (a replayed or repeated key, a reversal, an unknown
-- account, an unbalanced entry, a balance that would cross its floor). The caller holds
-- the accounts' locks. Keys and accounts are probed per request and line.
CREATE OR REPLACE FUNCTION ledger_post_together(requests jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    line_n        bigint[];
    line_realm    text[];
    line_account  bigint[];
    line_amount   bigint[];
    line_asset    text[];
    line_seq      bigint[];
    line_balance  bigint[];
    entry_ids     bigint[];
    entry_times   timestamptz[];
    ordinary      boolean;
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

    -- Every line on a known account of the entry's realm, each account once per entry,
    -- non-zero; the running balances and history places, entry after entry.
    WITH lines AS (
        SELECT i.n, i.r->>'realm' AS realm, (l->>'account_id')::bigint AS account_id,
               (l->>'amount')::bigint AS amount
          FROM jsonb_array_elements(requests) WITH ORDINALITY AS i (r, n),
               jsonb_array_elements(i.r->'postings') l),
    placed AS (
        SELECT l.n, l.realm, l.account_id, l.amount, a.asset, a.floor, a.id IS NULL AS unknown,
               a.posting_count + row_number() OVER w AS account_seq,
               a.balance + sum(l.amount) OVER w AS balance_after
          FROM lines l
          LEFT JOIN LATERAL (SELECT a.id, a.asset, a.floor, a.posting_count, a.balance FROM accounts a
                              WHERE a.realm = l.realm AND a.id = l.account_id LIMIT 1) a ON true
        WINDOW w AS (PARTITION BY l.realm, l.account_id ORDER BY l.n))
    SELECT array_agg(n ORDER BY n, account_id), array_agg(realm ORDER BY n, account_id),
           array_agg(account_id ORDER BY n, account_id), array_agg(amount ORDER BY n, account_id),
           array_agg(asset ORDER BY n, account_id), array_agg(account_seq ORDER BY n, account_id),
           array_agg(balance_after ORDER BY n, account_id),
           bool_and(coalesce(NOT unknown AND amount <> 0 AND (floor IS NULL OR balance_after >= floor),
                             false))
           AND count(DISTINCT (n, account_id)) = count(*)
      INTO line_n, line_realm, line_account, line_amount, line_asset, line_seq, line_balance, ordinary
      FROM placed;
    IF NOT coalesce(ordinary, false) OR EXISTS (
        SELECT 1 FROM unnest(line_n, line_asset, line_amount) AS l (n, asset, amount)
         GROUP BY l.n, l.asset HAVING sum(l.amount) <> 0) THEN
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

    INSERT INTO postings (realm, entry_id, account_id, account_seq, asset, amount,
                          balance_after, created_at)
    SELECT l.realm, entry_ids[l.n], l.account_id, l.seq, l.asset, l.amount, l.balance,
           entry_times[l.n]
      FROM unnest(line_n, line_realm, line_account, line_amount, line_asset, line_seq, line_balance)
           AS l (n, realm, account_id, amount, asset, seq, balance);

    SELECT jsonb_agg(jsonb_build_object(
               'realm', i.r->>'realm', 'id', entry_ids[i.n], 'kind', i.r->>'kind',
               'reverses_entry_id', NULL, 'reference', i.r->>'reference', 'memo', i.r->>'memo',
               'created_by', i.r->>'created_by', 'created_at', entry_times[i.n],
               'postings', (SELECT jsonb_agg(jsonb_build_object(
                                'account_id', l.account_id, 'asset', l.asset, 'amount', l.amount,
                                'balance_after', l.balance) ORDER BY l.account_id)
                              FROM unnest(line_n, line_account, line_asset, line_amount, line_balance)
                                   AS l (n, account_id, asset, amount, balance)
                             WHERE l.n = i.n),
               'replayed', false) ORDER BY i.n)
      INTO requests FROM jsonb_array_elements(requests) WITH ORDINALITY AS i (r, n);
    RETURN requests;
END $$;
