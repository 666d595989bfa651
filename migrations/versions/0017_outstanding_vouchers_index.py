"""A resident's outstanding vouchers have an index of their own, so the limit's count at
every issue (`vouchers_admit`) reads only the issued vouchers, never the resident's whole
history.

Revision ID: 0017
Revises: 0016
"""
from migrations.sqlfile import run_sql_file

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0017_outstanding_vouchers_index.sql")


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only; restore from a backup instead")
