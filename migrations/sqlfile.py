"""Run a .sql file that sits beside the migrations, verbatim, in the migration's transaction."""
from collections.abc import Iterable
from pathlib import Path

from alembic import op

from migrations import objects

SQL_DIR = Path(__file__).parent / "sql"


def run_sql_file(name: str, needs: Iterable[str] = ()) -> None:
    """Run `migrations/sql/<name>`; first the object files (`<package>/sql/...`) that its
    statements call, when it calls any (a fresh database has no functions yet)."""
    sql = (SQL_DIR / name).read_text(encoding="utf-8")
    connection = op.get_bind().connection.driver_connection
    objects.apply_named(connection, needs)
    # Straight to psycopg with no parameters: no placeholder parsing, so PL/pgSQL's
    # own `%` format markers and `:` casts reach the server untouched.
    connection.execute(sql)
