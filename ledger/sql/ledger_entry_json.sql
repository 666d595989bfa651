-- An entry as JSON, the shape the service returns for a post and for its replays.
CREATE OR REPLACE FUNCTION ledger_entry_json(entry_realm text, entry_id bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'realm', e.realm, 'id', e.id, 'kind', e.kind,
        'reverses_entry_id', e.reverses_entry_id, 'reference', e.reference, 'memo', e.memo,
        'created_by', e.created_by, 'created_at', e.created_at,
        'postings', (SELECT jsonb_agg(jsonb_build_object(
                         'account_id', p.account_id, 'asset', p.asset, 'amount', p.amount,
                         'balance_after', p.balance_after) ORDER BY p.account_id)
                       FROM postings p WHERE p.realm = e.realm AND p.entry_id = e.id))
      FROM entries e WHERE e.realm = entry_realm AND e.id = entry_id
$$;
