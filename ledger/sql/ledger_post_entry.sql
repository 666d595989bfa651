-- Post one entry inside the caller's transaction:
--   {realm, kind, idempotency_key?, request_hash? (hex), reverses_entry_id?, reference?,
--    memo?, created_by, postings: [{account_id, amount}]}
-- Locks its accounts in id order, so concurrent posts queue instead of deadlocking; its
-- postings carry their running balances, read from the accounts it has just locked.
CREATE OR REPLACE FUNCTION ledger_post_entry(request jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    entry_realm  text := request->>'realm';
    key          text := request->>'idempotency_key';
    request_hash bytea := decode(request->>'request_hash', 'hex');
    reverses_id  bigint := (request->>'reverses_entry_id')::bigint;
    account_ids  bigint[];
    amounts      bigint[];
    found_ids    bigint[];
    assets       text[];
    balances     bigint[];
    counts       bigint[];
    replay       jsonb;
    new_id       bigint;
    new_time     timestamptz;
    posted       jsonb;
BEGIN
    IF key IS NOT NULL THEN
        replay := ledger_replay(entry_realm, key, request_hash);
        IF replay IS NOT NULL THEN
            RETURN replay;
        END IF;
    END IF;

    SELECT array_agg((l->>'account_id')::bigint ORDER BY (l->>'account_id')::bigint),
           array_agg((l->>'amount')::bigint ORDER BY (l->>'account_id')::bigint)
      INTO account_ids, amounts
      FROM jsonb_array_elements(request->'postings') l;

    SELECT array_agg(locked.id ORDER BY locked.id), array_agg(locked.asset ORDER BY locked.id),
           array_agg(locked.balance ORDER BY locked.id), array_agg(locked.posting_count ORDER BY locked.id)
      INTO found_ids, assets, balances, counts
      FROM (SELECT a.id, a.asset, a.balance, a.posting_count FROM accounts a
             WHERE a.realm = entry_realm AND a.id = ANY (account_ids)
             ORDER BY a.id FOR UPDATE) locked;
    IF found_ids IS DISTINCT FROM account_ids THEN
        PERFORM pb_raise('unknown_account', jsonb_build_object('account_id',
            (SELECT min(x) FROM unnest(account_ids) x WHERE found_ids IS NULL OR x <> ALL (found_ids))));
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(assets, amounts) AS l (asset, amount)
                GROUP BY l.asset HAVING sum(l.amount) <> 0) THEN
        PERFORM pb_raise('entry_unbalanced', '{}');
    END IF;
    IF reverses_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM entries e WHERE e.realm = entry_realm AND e.reverses_entry_id = reverses_id) THEN
        PERFORM pb_raise('entry_already_reversed', jsonb_build_object('entry_id', reverses_id));
    END IF;

    INSERT INTO entries (realm, kind, idempotency_key, request_hash, reverses_entry_id,
                         reference, memo, created_by, created_at, created_txid)
    VALUES (entry_realm, request->>'kind', key, request_hash, reverses_id,
            request->>'reference', request->>'memo', request->>'created_by', now(), 0)
    ON CONFLICT (realm, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id, created_at INTO new_id, new_time;
    IF new_id IS NULL THEN
        -- a concurrent request with the same key committed first
        RETURN ledger_replay(entry_realm, key, request_hash);
    END IF;

    -- one posting per account (the accounts are distinct), so each is the next in its
    -- account's history
    INSERT INTO postings (realm, entry_id, account_id, account_seq, asset, amount,
                          balance_after, created_at)
    SELECT entry_realm, new_id, l.id, l.posting_count + 1, l.asset, l.amount, l.balance + l.amount, new_time
      FROM unnest(account_ids, assets, amounts, balances, counts) AS l (id, asset, amount, balance, posting_count);

    SELECT jsonb_agg(jsonb_build_object('account_id', l.id, 'asset', l.asset, 'amount', l.amount,
                                        'balance_after', l.balance + l.amount) ORDER BY l.id)
      INTO posted FROM unnest(account_ids, assets, amounts, balances) AS l (id, asset, amount, balance);

    RETURN jsonb_build_object(
        'realm', entry_realm, 'id', new_id, 'kind', request->>'kind',
        'reverses_entry_id', reverses_id, 'reference', request->>'reference',
        'memo', request->>'memo', 'created_by', request->>'created_by', 'created_at', new_time,
        'postings', posted, 'replayed', false);
END $$;
