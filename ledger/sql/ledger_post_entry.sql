-- Post one entry inside the caller's transaction:
--   {realm, kind, idempotency_key?, request_hash? (hex), reverses_entry_id?, reference?,
--    memo?, created_by, postings: [{account_id, amount}]}
-- Answers the entry as ledger_entry_json does (or the first result of its key, replayed).
-- Locks its accounts in id order before it makes the entry, so concurrent posts queue
-- instead of deadlocking; the postings go through the one writer, ledger_write_postings.
-- Works on arrays rather than joins: every statement here is an index probe.
CREATE OR REPLACE FUNCTION ledger_post_entry(request jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    entry_realm  text := request->>'realm';
    key          text := request->>'idempotency_key';
    request_hash bytea := decode(request->>'request_hash', 'hex');
    reverses_id  bigint := (request->>'reverses_entry_id')::bigint;
    account_ids  bigint[];
    amounts      bigint[];
    realms       text[];
    found_ids    bigint[];
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
           array_agg((l->>'amount')::bigint ORDER BY (l->>'account_id')::bigint),
           array_agg(entry_realm)
      INTO account_ids, amounts, realms
      FROM jsonb_array_elements(request->'postings') l;

    SELECT array_agg(locked.id ORDER BY locked.id) FILTER (WHERE locked.asset IS NOT NULL) INTO found_ids
      FROM ledger_lock_accounts(realms, account_ids) locked;
    IF found_ids IS DISTINCT FROM account_ids THEN
        PERFORM pb_raise('unknown_account', jsonb_build_object('account_id',
            (SELECT min(x) FROM unnest(account_ids) x WHERE found_ids IS NULL OR x <> ALL (found_ids))));
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

    SELECT jsonb_agg(jsonb_build_object('account_id', w.account_id, 'asset', w.asset, 'amount', w.amount,
                                        'balance_after', w.balance_after) ORDER BY w.account_id)
      INTO posted
      FROM ledger_write_postings(realms, array_fill(new_id, ARRAY[coalesce(cardinality(account_ids), 0)]),
                                 account_ids, amounts) w;

    RETURN jsonb_build_object(
        'realm', entry_realm, 'id', new_id, 'kind', request->>'kind',
        'reverses_entry_id', reverses_id, 'reference', request->>'reference',
        'memo', request->>'memo', 'created_by', request->>'created_by', 'created_at', new_time,
        'postings', posted, 'replayed', false);
END $$;
