-- Group commit's loop, written once: call `item_function(request)` for each request, each
-- in its own subtransaction, so a refusal rolls back that item alone and is reported by
-- code ({error, detail}); one result per request, in order. The item function is named
-- (plpgsql cannot take a function as a value), so each call is one EXECUTE; the batch
-- functions that use it (ledger_post_each, voucher_capture_batch, voucher_issue_batch) pass
-- a constant name.
CREATE OR REPLACE FUNCTION pb_batch_each(item_function text, requests jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    call       text := format('SELECT %I($1)', item_function);
    request    jsonb;
    result     jsonb;
    results    jsonb[] := '{}';
    message    text;
    detail     text;
    constraint_name text;
BEGIN
    FOR request IN SELECT value FROM jsonb_array_elements(requests) LOOP
        BEGIN
            EXECUTE call INTO result USING request;
            results := results || result;
        EXCEPTION
            WHEN raise_exception THEN
                GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
                results := results || jsonb_build_object('error', message,
                                                         'detail', coalesce(detail, '{}')::jsonb);
            WHEN unique_violation OR check_violation OR foreign_key_violation
                 OR not_null_violation OR invalid_text_representation
                 OR numeric_value_out_of_range THEN
                GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, constraint_name = CONSTRAINT_NAME;
                results := results || jsonb_build_object(
                    'error', 'constraint_violation',
                    'detail', jsonb_build_object('constraint', constraint_name, 'message', message));
        END;
    END LOOP;
    RETURN to_jsonb(results);
END $$;
