-- Idempotency of refusals (issue 11 item 7; here because this branch has one revision):
-- a request that changed nothing does not take its Idempotency-Key, so a retry under the
-- same key after the cause is fixed (a budget funded, say) is evaluated afresh. A bulk
-- attendance request that awarded nothing (every record refused or already awarded) is
-- not stored; one that awarded anything keeps its key and replays its first results.
CREATE OR REPLACE FUNCTION earning_record_attendance(request jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    request_realm text := request->>'realm';
    key           text := request->>'idempotency_key';
    first         attendance_requests;
    awarded       jsonb := '[]';
    outcome       jsonb;
BEGIN
    SELECT * INTO first FROM attendance_requests r
     WHERE r.realm = request_realm AND r.idempotency_key = key;
    IF FOUND THEN
        RETURN jsonb_build_object('replay', true, 'request_hash', encode(first.request_hash, 'hex'),
                                  'activity_id', first.activity_id, 'outcome', first.results);
    END IF;
    IF jsonb_array_length(request->'records') > 0 THEN
        awarded := earning_award_chunk(jsonb_build_object(
            'realm', request_realm, 'created_by', request->>'created_by', 'records', request->'records'));
    END IF;
    SELECT jsonb_build_object(
               'activity_id', (request->>'activity_id')::bigint, 'results', awarded,  -- one per record, in order
               'awarded', count(*) FILTER (WHERE NOT r ? 'error'),
               'refused', count(*) FILTER (WHERE r ? 'error'),
               'points', coalesce(sum((r->>'points')::bigint) FILTER (WHERE NOT r ? 'error'), 0))
      INTO outcome FROM jsonb_array_elements(awarded) r;
    IF NOT EXISTS (SELECT 1 FROM jsonb_array_elements(awarded) a
                    WHERE NOT a ? 'error' AND NOT coalesce((a->>'replayed')::boolean, false)) THEN
        RETURN jsonb_build_object('replay', false, 'outcome', outcome);  -- changed nothing: key stays free
    END IF;
    INSERT INTO attendance_requests (realm, idempotency_key, request_hash, activity_id, results, created_by)
    VALUES (request_realm, key, decode(request->>'request_hash', 'hex'), (request->>'activity_id')::bigint,
            outcome, request->>'created_by')
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN  -- a concurrent request under the same key stored its outcome first
        SELECT * INTO first FROM attendance_requests r
         WHERE r.realm = request_realm AND r.idempotency_key = key;
        RETURN jsonb_build_object('replay', true, 'request_hash', encode(first.request_hash, 'hex'),
                                  'activity_id', first.activity_id, 'outcome', first.results);
    END IF;
    RETURN jsonb_build_object('replay', false, 'outcome', outcome);
END $$;
