"""Set-based postings: running balances written by the poster, checked per statement.

Revision ID: 0006
Revises: 0005
"""
from migrations.sqlfile import run_sql_file

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0006_set_based_postings.sql")


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only; restore from a backup instead")
