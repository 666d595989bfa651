"""SQL code in one place: the record of which function and trigger files the database ran
(`migrations/objects.py`). From here on, no revision defines a function or a trigger.

Revision ID: 0011
Revises: 0010
"""
from migrations.sqlfile import run_sql_file

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0011_sql_objects.sql")


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only; restore from a backup instead")
