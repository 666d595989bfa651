-- Group commit for captures: many redemptions in one transaction, each in its own
-- subtransaction (a refusal rolls back that item alone and is reported by code).
CREATE OR REPLACE FUNCTION voucher_capture_batch(requests jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    request    jsonb;
    results    jsonb[] := '{}';
    message    text;
    detail     text;
    constraint_name text;
BEGIN
    FOR request IN SELECT value FROM jsonb_array_elements(requests) LOOP
        BEGIN
            results := results || voucher_capture(request);
        EXCEPTION
            WHEN raise_exception THEN
                GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
                results := results || jsonb_build_object('error', message,
                                                         'detail', coalesce(detail, '{}')::jsonb);
            WHEN unique_violation OR check_violation OR foreign_key_violation THEN
                GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, constraint_name = CONSTRAINT_NAME;
                results := results || jsonb_build_object(
                    'error', 'constraint_violation',
                    'detail', jsonb_build_object('constraint', constraint_name, 'message', message));
        END;
    END LOOP;
    RETURN to_jsonb(results);
END $$;
