-- Since revision 0011 the functions and triggers this revision once defined live in one
-- file each under their package (`<package>/sql/`, applied by migrations/objects.py);
-- this file keeps its tables, indexes, constraints, grants and data.

-- Set-based postings: a posting arrives carrying its own place in its account's history
-- (account_seq) and the running balance after it (balance_after), computed by the writer
-- under the account's row lock. The book no longer fills these in row by row; it checks
-- them, once per INSERT statement, and moves the cached balances in one UPDATE.
--
-- What the book guarantees is unchanged (invariants 1-4): every posting joins an entry
-- made in its own transaction and takes its time; the entry rules hold; balances chain
-- without gaps from the cached balance; no balance goes below its floor; the cached
-- balance is the last running balance. A writer that gets a number wrong is refused
-- (`posting_chain_broken`), never corrected silently.
--
-- Why: a bulk attendance chunk posts about 1,000 times under the realm's budget lock;
-- a row trigger per posting was a third of that lock's time.

-- Sealing finds new entries by transaction id. Keyed (created_txid, realm) rather than
-- (realm, created_txid): with the realm first, a planner without statistics (a new
-- book) took it for look-ups by (realm, id), scanning a realm's every entry per probe.
DROP INDEX entries_realm_txid;
CREATE INDEX entries_txid_realm ON entries (created_txid, realm);
-- For the same reason the two optional keys are indexed only where they are set (most
-- entries have neither), so that no index led by `realm` but not by `id` competes with
-- the primary key. Still unique per realm, under the same names.
ALTER TABLE entries DROP CONSTRAINT entries_idempotency_key;
CREATE UNIQUE INDEX entries_idempotency_key ON entries (realm, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
ALTER TABLE entries DROP CONSTRAINT entries_reversed_once;
CREATE UNIQUE INDEX entries_reversed_once ON entries (realm, reverses_entry_id)
    WHERE reverses_entry_id IS NOT NULL;

