-- Insert the vouchers of voucher_issue requests, the i-th naming hold entry
-- `hold_entry_ids[i]`, in one statement (row triggers judge each row: vouchers_admit sees
-- the rows inserted before it). Answers the rows as a JSON array in request order, their
-- bytea columns (serial, request_hash) in hex.
CREATE OR REPLACE FUNCTION voucher_insert(requests jsonb, hold_entry_ids bigint[]) RETURNS jsonb
LANGUAGE sql AS $$
    WITH made AS (
        INSERT INTO vouchers (realm, serial, short_code, code, key_id, resident_id, resident_account_id,
                              hold_account_id, asset, amount, scope_merchant_id, scope_merchant_kind,
                              expires_at, hold_entry_id, idempotency_key, request_hash, created_by)
        SELECT r->>'realm', decode(r->>'serial', 'hex'), r->>'short_code', r->>'code', (r->>'key_id')::integer,
               (r->>'resident_id')::bigint, (r->>'resident_account_id')::bigint,
               (r->>'hold_account_id')::bigint, r->>'asset', (r->>'amount')::bigint,
               (r->>'scope_merchant_id')::bigint, r->>'scope_merchant_kind', (r->>'expires_at')::timestamptz,
               hold_entry_ids[n], r->>'idempotency_key', decode(r->>'request_hash', 'hex'), r->>'created_by'
          FROM jsonb_array_elements(requests) WITH ORDINALITY AS i (r, n)
         ORDER BY n
        RETURNING *)
    SELECT jsonb_agg(to_jsonb(v) || jsonb_build_object('serial', encode(v.serial, 'hex'),
                                                       'request_hash', encode(v.request_hash, 'hex'))
                     ORDER BY v.id)
      FROM made v
$$;
