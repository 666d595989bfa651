"""Insight: privacy opt-in, the transactional outbox (events), inboxes, signed webhooks,
indicator rollups, star levels and 文明实践之星. Its functions and triggers are in notify/sql
and insight/sql (migrations/objects.py applies them).

Revision ID: 0014
Revises: 0013
"""
from migrations.sqlfile import run_sql_file

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0014_insight.sql", needs=("ledger/sql/pb_append_only.sql",))


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only; restore from a backup instead")
