"""The book: an append-only double-entry ledger of points on PostgreSQL."""
