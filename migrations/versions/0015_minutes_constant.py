"""The CHECKs on attendance minutes name the constant `earning_minutes_per_record_max()`
instead of the literal 1440.

Revision ID: 0015
Revises: 0014
"""
from migrations.sqlfile import run_sql_file

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0015_minutes_constant.sql", needs=("earning/sql/earning_minutes_per_record_max.sql",))


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only; restore from a backup instead")
