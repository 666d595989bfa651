"""The service loop: volunteers, service requests (点单/派单/接单/评单), dispatch steps and
their awards (orders/); ratings, averages and alerts (feedback/). Their functions and
triggers are in orders/sql and feedback/sql (migrations/objects.py applies them).

Revision ID: 0012
Revises: 0011
"""
from migrations.sqlfile import run_sql_file

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0012_orders.sql", needs=("ledger/sql/pb_append_only.sql",))


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only; restore from a backup instead")
