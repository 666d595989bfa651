"""Audit: checkpoints and reconciliation support.

Revision ID: 0005
Revises: 0004
"""
from migrations.sqlfile import run_sql_file

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0005_audit.sql", needs=("ledger/sql/audit_field.sql", "ledger/sql/audit_micros.sql"))


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only; restore from a backup instead")
