"""Redemption: merchant registry, signing keys, vouchers, redemptions.

Revision ID: 0003
Revises: 0002
"""
from migrations.sqlfile import run_sql_file

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0003_redemption.sql")


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only; restore from a backup instead")
