"""Ledger foundation: realms, accounts, entries, postings, tokens and their invariants.

Revision ID: 0001
Revises:
"""
from migrations.sqlfile import run_sql_file

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0001_ledger.sql", needs=("ledger/sql/pb_raise.sql", "ledger/sql/pb_refuse_change.sql",
                                       "ledger/sql/pb_append_only.sql"))


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only; restore from a backup instead")
