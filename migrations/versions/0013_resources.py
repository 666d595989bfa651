"""Shared resources and reservations: providers, resources, slots with capacity,
reservations, priority places paid in points through the ledger's hold, capture and
release (issue 15).

Revision ID: 0013
Revises: 0010
"""
from pathlib import Path

from alembic import op

from migrations.sqlfile import run_sql_file

revision = "0013"
down_revision = "0010"
branch_labels = None
depends_on = None

PACKAGE_SQL_DIR = Path(__file__).resolve().parents[2] / "resources" / "sql"


def upgrade() -> None:
    run_sql_file("0013_resources.sql")
    apply_package_sql(PACKAGE_SQL_DIR)


def apply_package_sql(directory: Path) -> None:
    """TEMPORARY (until the runner applies every `<package>/sql/*.sql` by checksum): run
    the package's function files, then its trigger files (a trigger names its function)."""
    files = sorted(directory.glob("*.sql"))
    functions = [f for f in files if "CREATE OR REPLACE FUNCTION" in f.read_text(encoding="utf-8")]
    driver = op.get_bind().connection.driver_connection
    for path in functions + [f for f in files if f not in functions]:
        driver.execute(path.read_text(encoding="utf-8"))


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only; restore from a backup instead")
