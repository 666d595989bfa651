"""Earning: places, residents, activity rules, attendance, budgets.

Revision ID: 0002
Revises: 0001
"""
from migrations.sqlfile import run_sql_file

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0002_earning.sql", needs=("earning/sql/earning_default_catalogue.sql",))


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only; restore from a backup instead")
