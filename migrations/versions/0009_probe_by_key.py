"""Write paths probe by key: no statement reads a whole table that grows with the book.

Revision ID: 0009
Revises: 0008
"""
from migrations.sqlfile import run_sql_file

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0009_probe_by_key.sql")


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only; restore from a backup instead")
