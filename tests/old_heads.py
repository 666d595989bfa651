"""Databases of earlier schemas, for upgrade tests: `tests/fixtures/head_<revision>.sql.gz`
are plain-SQL dumps of fresh databases migrated to that revision by the code of the time
(`tests/fixtures/make_old_head.py` says how they were made). Restored with nothing but a
database connection, on PostgreSQL 15 or 16."""
from __future__ import annotations

import gzip
from pathlib import Path

import psycopg

from api.backup import APP_ROLE_SQL

FIXTURES = Path(__file__).parent / "fixtures"


def restore_old_head(database_url: str, revision: str) -> None:
    """Load the schema of `revision` into the empty database at `database_url`."""
    dump = gzip.decompress((FIXTURES / f"head_{revision}.sql.gz").read_bytes()).decode("utf-8")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(APP_ROLE_SQL)
    with psycopg.connect(database_url) as conn:
        conn.execute(dump)  # no parameters: sent as is, one simple query, one transaction


def function_definitions(conn: psycopg.Connection) -> dict[str, str]:
    """Every function of the public schema: `name(arguments)` -> pg_get_functiondef."""
    return dict(conn.execute(
        "SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', "
        "pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'public' AND p.prokind = 'f'").fetchall())


def trigger_definitions(conn: psycopg.Connection) -> dict[str, str]:
    """Every trigger of the public schema's tables: `table.name` -> pg_get_triggerdef."""
    return dict(conn.execute(
        "SELECT c.relname || '.' || t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t "
        "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND NOT t.tgisinternal").fetchall())
