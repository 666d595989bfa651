"""Shared resources and reservations: providers, resources, slots with capacity,
reservations, priority places paid in points through the ledger's hold, capture and
release (issue 15). Their functions and triggers are in resources/sql (the hold check,
which counts held reservations too, in redemption/sql/hold_check.sql); migrations/objects.py
applies them.

Revision ID: 0013
Revises: 0012
"""
from migrations.sqlfile import run_sql_file

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0013_resources.sql")


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only; restore from a backup instead")
