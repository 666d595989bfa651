"""Service awards name the 志愿 rule's activity type and the realm day the service was
done on (backfilled), so that a confirmation's pay counts against the rule's daily cap
with the attendance awards of that day (earning/sql/earning_earned_on_day.sql).

Revision ID: 0016
Revises: 0015
"""
from migrations.sqlfile import run_sql_file

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0016_service_award_day.sql")


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only; restore from a backup instead")
