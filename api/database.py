"""Where the database is: DATABASE_URL, or an embedded PostgreSQL (the `pgserver`
package) under the data directory, started on demand."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

EMBEDDED_DATABASE = "pointsbank"

log = logging.getLogger(__name__)
_servers: dict[Path, object] = {}


def embedded_server(data_dir: Path) -> Any:
    """Start (or join) the embedded server under `data_dir/pg` (a `pgserver.PostgresServer`)."""
    import pgserver  # imported late: only needed without DATABASE_URL

    pgdata = (data_dir / "pg").resolve()
    if pgdata not in _servers:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        _servers[pgdata] = pgserver.get_server(pgdata, cleanup_mode="stop")
    return _servers[pgdata]


def embedded_server_url(data_dir: Path) -> str:
    """Start (or join) the embedded server under `data_dir/pg`; return its admin URL."""
    return embedded_server(data_dir).get_uri()


def ensure_database(server_url: str, name: str) -> str:
    """Create database `name` on the server if missing; return its URL."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(server_url, name)


@contextmanager
def throwaway_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new database on the server, migrated to the newest revision, dropped after use;
    its URL."""
    from migrations.runner import upgrade  # imported late: the service itself never needs it

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = with_database(server_url, name)
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def with_database(server_url: str, name: str) -> str:
    """The same server URL, naming another database."""
    from sqlalchemy.engine import make_url

    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def resolve_database_url(database_url: str | None, data_dir: Path) -> str:
    if database_url:
        return database_url
    return ensure_database(embedded_server_url(data_dir), EMBEDDED_DATABASE)
