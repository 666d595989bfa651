-- Group commit, one entry at a time (the path a batch takes when it cannot go together):
-- each item in its own subtransaction, a refusal reported by code; the accounts are
-- locked first through ledger_lock_batch_accounts.
CREATE OR REPLACE FUNCTION ledger_post_each(requests jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    request    jsonb;
    results    jsonb[] := '{}';
    message    text;
    detail     text;
    constraint_name text;
BEGIN
    PERFORM ledger_lock_batch_accounts(requests);

    FOR request IN SELECT value FROM jsonb_array_elements(requests) LOOP
        BEGIN
            results := results || ledger_post_entry(request);
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
