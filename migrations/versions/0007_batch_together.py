"""Group commit tries a batch of ordinary new entries together (one INSERT each for entries and postings).

Revision ID: 0007
Revises: 0006
"""
from migrations.sqlfile import run_sql_file

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0007_batch_together.sql")


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only; restore from a backup instead")
