-- Entries take their time and transaction from the server, not from the client.
-- ledger_post_entry inserts the entry after locking its accounts, so an account's
-- postings are in time order as well as in account_seq order.
CREATE OR REPLACE FUNCTION entries_stamp() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.created_at := clock_timestamp();
    NEW.created_txid := txid_current();
    RETURN NEW;
END $$;
