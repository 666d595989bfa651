-- SQL code in one place: every function and trigger is one file under the package that
-- owns it (`<package>/sql/<name>.sql`, `<package>/sql/<name>.trigger.sql`), and
-- `migrations/objects.py` runs a file after the revisions whenever its content changes.
-- This table is what it ran: one row per file, with the SHA-256 of the content.
-- The owner's bookkeeping: the application role has no right on it.
CREATE TABLE schema_objects (
    path        text PRIMARY KEY CHECK (path ~ '^[a-z_]+/sql/[a-z0-9_]+(\.trigger)?\.sql$'),
    kind        text NOT NULL CHECK (kind IN ('function', 'trigger')),
    name        text NOT NULL,
    checksum    bytea NOT NULL CHECK (length(checksum) = 32),
    applied_at  timestamptz NOT NULL DEFAULT now()
);
