"""Insight: privacy opt-in, the transactional outbox (events), inboxes, signed webhooks,
indicator rollups, star levels and 文明实践之星.

Revision ID: 0014
Revises: 0010
"""
from pathlib import Path

from alembic import op

from migrations.sqlfile import run_sql_file

revision = "0014"
down_revision = "0010"
branch_labels = None
depends_on = None

ROOT = Path(__file__).resolve().parents[2]
PACKAGES_WITH_SQL = ("notify", "insight")


def upgrade() -> None:
    run_sql_file("0014_insight.sql")
    apply_package_sql(PACKAGES_WITH_SQL)   # TEMPORARY: the lead removes this call at merge


def apply_package_sql(packages: tuple[str, ...]) -> None:
    """Until the `<package>/sql/*.sql` runner is merged: run each package's definitions,
    functions before the triggers that call them (each file holds one CREATE OR REPLACE)."""
    files = [path for package in packages for path in sorted((ROOT / package / "sql").glob("*.sql"))]
    files.sort(key=lambda path: "CREATE OR REPLACE TRIGGER" in path.read_text(encoding="utf-8"))
    driver = op.get_bind().connection.driver_connection
    for path in files:
        driver.execute(path.read_text(encoding="utf-8"))


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only; restore from a backup instead")
