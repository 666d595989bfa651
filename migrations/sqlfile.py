"""Run a .sql file that sits beside the migrations, verbatim, in the migration's transaction."""
from pathlib import Path

from alembic import op

SQL_DIR = Path(__file__).parent / "sql"


def run_sql_file(name: str) -> None:
    sql = (SQL_DIR / name).read_text(encoding="utf-8")
    # Straight to psycopg with no parameters: no placeholder parsing, so PL/pgSQL's
    # own `%` format markers and `:` casts reach the server untouched.
    op.get_bind().connection.driver_connection.execute(sql)
