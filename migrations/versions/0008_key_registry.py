"""A registry of public signing keys: which ledger key may seal, which keys verify.

Revision ID: 0008
Revises: 0007
"""
from migrations.sqlfile import run_sql_file

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0008_key_registry.sql")


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only; restore from a backup instead")
