-- Since revision 0011 the functions and triggers this revision once defined live in one
-- file each under their package (`<package>/sql/`, applied by migrations/objects.py);
-- this file keeps its tables, indexes, constraints, grants and data.

-- Audit: signed checkpoints (a Merkle tree per realm over its committed entries) and the
-- canonical leaf of an entry, so that the database and an offline verifier hash the
-- same bytes.
--
-- Checkpoints are per realm: every per-realm table carries `realm` (Citus), a realm's
-- auditor can verify its own tree without anyone else's entries, and sealing one realm
-- never waits for another.

-- Sealing finds the entries committed since the last checkpoint by transaction id.
CREATE INDEX entries_realm_txid ON entries (realm, created_txid);

-- The canonical bytes of an entry and its postings (ordered by account), the Merkle leaf
-- before hashing. Python's ledger.merkle.leaf_bytes builds the same bytes.
CREATE VIEW audit_entry_leaves AS
SELECT e.realm, e.id AS entry_id, e.created_txid,
       sha256('\x00'::bytea || convert_to(
           'pb-leaf-v1' || audit_field(e.realm) || audit_field(e.id::text)
           || audit_field(e.kind) || audit_field(e.reverses_entry_id::text)
           || audit_field(e.reference) || audit_field(e.memo) || audit_field(e.created_by)
           || audit_field(audit_micros(e.created_at)::text)
           || coalesce(lines.text, ''), 'UTF8')) AS leaf_hash
  FROM entries e
  LEFT JOIN LATERAL (
      SELECT string_agg('|' || audit_field(p.account_id::text) || audit_field(p.account_seq::text)
                        || audit_field(p.asset) || audit_field(p.amount::text)
                        || audit_field(p.balance_after::text), '' ORDER BY p.account_id) AS text
        FROM postings p WHERE p.realm = e.realm AND p.entry_id = e.id) lines ON true;

CREATE TABLE checkpoints (
    realm              text NOT NULL REFERENCES realms (code),
    seq                bigint NOT NULL CHECK (seq >= 1),
    tree_size          bigint NOT NULL CHECK (tree_size >= 1),
    root_hash          bytea NOT NULL CHECK (octet_length(root_hash) = 32),
    previous_head_hash bytea CHECK (octet_length(previous_head_hash) = 32),
    head_hash          bytea NOT NULL CHECK (octet_length(head_hash) = 32),
    -- hashes of the perfect subtrees that make the tree, largest first (sealing appends
    -- to them instead of rereading every leaf)
    frontier           bytea[] NOT NULL,
    -- every entry committed by a transaction below this id is sealed at or before here
    sealed_below_txid  bigint NOT NULL,
    key_id             integer NOT NULL,
    signature          bytea NOT NULL CHECK (octet_length(signature) = 64),
    created_at         timestamptz NOT NULL,
    PRIMARY KEY (realm, seq),
    CONSTRAINT checkpoints_first CHECK ((seq = 1) = (previous_head_hash IS NULL))
);

CREATE TABLE checkpoint_entries (
    realm           text NOT NULL,
    entry_id        bigint NOT NULL,
    checkpoint_seq  bigint NOT NULL,
    leaf_index      bigint NOT NULL CHECK (leaf_index >= 0),
    leaf_hash       bytea NOT NULL CHECK (octet_length(leaf_hash) = 32),
    -- an entry is sealed once, and each position of the tree holds one entry
    PRIMARY KEY (realm, entry_id),
    CONSTRAINT checkpoint_entries_leaf UNIQUE (realm, leaf_index),
    FOREIGN KEY (realm, entry_id) REFERENCES entries (realm, id),
    FOREIGN KEY (realm, checkpoint_seq) REFERENCES checkpoints (realm, seq)
        DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX checkpoint_entries_seq ON checkpoint_entries (realm, checkpoint_seq);

-- Append-only, like the book they seal.
SELECT pb_append_only('checkpoints');
SELECT pb_append_only('checkpoint_entries');

GRANT SELECT ON audit_entry_leaves TO pointsbank_app;
GRANT SELECT, INSERT ON checkpoints, checkpoint_entries TO pointsbank_app;
