"""People in: enrolment codes, device tokens (expiry, revocation), activities residents
see and join (capacity, waitlist), check-in at the venue, closing an activity.

Revision ID: 0010
Revises: 0009
"""
from migrations.sqlfile import run_sql_file

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0010_access.sql")


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only; restore from a backup instead")
