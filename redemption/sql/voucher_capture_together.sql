-- Group commit for captures, set-based: a batch of captures (voucher_capture requests,
-- more than one) tried together. The batch's accounts (each voucher's hold account, the
-- merchants' accounts, and the resident's account of a partial capture) are locked first,
-- in (realm, id) order, and stay locked for the caller's one-at-a-time path. Then, in one
-- subtransaction: the vouchers close with one UPDATE (issued and not expired, as in
-- voucher_capture), the capture entries go in through ledger_post_together, the
-- redemptions with one INSERT. Answers one result per request, in request order, as
-- voucher_capture answers them; or NULL, with nothing of the try written, when the batch
-- must go one at a time: a serial twice, a voucher that does not close, a code that is not
-- its row, or anything the book or the triggers refuse.
CREATE OR REPLACE FUNCTION voucher_capture_together(requests jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    found_realms   text[];
    found_ids      bigint[];
    account_realms text[];
    account_ids    bigint[];
    closed_count   bigint;
    matching       boolean;
    captures       jsonb;
    posted         jsonb;
    results        jsonb;
BEGIN
    -- The vouchers the batch names, one key probe each (unlocked: the UPDATE judges them).
    SELECT array_agg(i.r->>'realm' ORDER BY i.n), array_agg(v.id ORDER BY i.n),
           array_agg(i.r->>'realm') || array_agg(i.r->>'realm')
             || coalesce(array_agg(i.r->>'realm') FILTER (WHERE (i.r->>'captured')::bigint < v.amount), '{}'),
           array_agg(v.hold_account_id) || array_agg((i.r->>'merchant_account_id')::bigint)
             || coalesce(array_agg(v.resident_account_id) FILTER (WHERE (i.r->>'captured')::bigint < v.amount), '{}')
      INTO found_realms, found_ids, account_realms, account_ids
      FROM jsonb_array_elements(requests) WITH ORDINALITY AS i (r, n)
     CROSS JOIN LATERAL (SELECT v.id, v.amount, v.hold_account_id, v.resident_account_id FROM vouchers v
                          WHERE v.realm = i.r->>'realm' AND v.serial = decode(i.r->>'serial', 'hex')
                          LIMIT 1) v;
    IF found_ids IS NULL OR cardinality(found_ids) <> jsonb_array_length(requests) THEN
        RETURN NULL;  -- an unknown serial: one at a time names it
    END IF;
    PERFORM 1 FROM ledger_lock_accounts(account_realms, account_ids);
    BEGIN
        WITH closed AS (
            UPDATE vouchers v
               SET status = CASE WHEN c.captured = v.amount THEN 'redeemed' ELSE 'partially_redeemed' END,
                   captured_amount = c.captured, closed_at = now()
              FROM ROWS FROM (jsonb_to_recordset(requests) AS (realm text, serial text, amount bigint, asset text,
                                                                captured bigint, merchant_account_id bigint,
                                                                created_by text))
                   WITH ORDINALITY AS c (realm, serial, amount, asset, captured, merchant_account_id, created_by, n)
             WHERE v.realm = ANY(found_realms) AND v.id = ANY(found_ids)
               AND v.realm = c.realm AND v.serial = decode(c.serial, 'hex')
               AND v.status = 'issued' AND v.expires_at > now()
            RETURNING c.n, c.realm, c.captured, c.merchant_account_id, c.created_by, c.amount AS code_amount,
                      c.asset AS code_asset, v.serial, v.amount, v.asset, v.hold_account_id, v.resident_account_id)
        SELECT count(*), coalesce(bool_and((amount, asset) IS NOT DISTINCT FROM (code_amount, code_asset)), false)
               AND count(DISTINCT n) = count(*),
               jsonb_agg(jsonb_build_object(
                   'realm', realm, 'kind', 'capture', 'reference', 'voucher:' || encode(serial, 'hex'),
                   'memo', 'voucher redeemed', 'created_by', created_by,
                   'postings', jsonb_build_array(
                                   jsonb_build_object('account_id', hold_account_id, 'amount', -amount),
                                   jsonb_build_object('account_id', merchant_account_id, 'amount', captured))
                               || CASE WHEN captured < amount  -- a partial capture: the rest goes back at once
                                       THEN jsonb_build_array(jsonb_build_object('account_id', resident_account_id,
                                                                                 'amount', amount - captured))
                                       ELSE '[]' END) ORDER BY n)
          INTO closed_count, matching, captures
          FROM closed;
        IF closed_count <> jsonb_array_length(requests) OR NOT matching THEN
            RAISE EXCEPTION 'voucher_capture_apart';  -- undoes the UPDATE: one at a time names the refusal
        END IF;
        posted := ledger_post_together(captures);  -- NULL, and nothing written, if it cannot
        IF posted IS NULL THEN
            RAISE EXCEPTION 'voucher_capture_apart';
        END IF;
        WITH made AS (
            INSERT INTO redemptions (realm, voucher_id, merchant_id, merchant_realm, amount, entry_id,
                                     offline, idempotency_key, request_hash, created_by)
            SELECT i.r->>'realm', found_ids[i.n], (i.r->>'merchant_id')::bigint, i.r->>'merchant_realm',
                   (i.r->>'captured')::bigint, (posted->(i.n::int - 1)->>'id')::bigint, (i.r->>'offline')::boolean,
                   i.r->>'idempotency_key', decode(i.r->>'request_hash', 'hex'), i.r->>'created_by'
              FROM jsonb_array_elements(requests) WITH ORDINALITY AS i (r, n)
             ORDER BY i.n
            RETURNING *)
        SELECT jsonb_agg(jsonb_build_object('id', m.id, 'realm', m.realm,
                                            'voucher_id', m.voucher_id, 'merchant_id', m.merchant_id,
                                            'amount', m.amount, 'entry_id', m.entry_id,
                                            'clear_entry_id', NULL, 'offline', m.offline,
                                            'created_at', m.created_at) ORDER BY m.id)
          INTO results FROM made m;
        RETURN results;
    EXCEPTION WHEN raise_exception OR integrity_constraint_violation OR data_exception THEN
        RETURN NULL;  -- refused: one at a time names it
    END;
END $$;
