"""Bring a database's schema up to date (as the connecting user, the schema's owner):
the revisions (alembic), then, at head, the functions and triggers whose files changed
(`migrations.objects`).

Safe to run twice and concurrently (several replicas starting at once): the upgrade holds
a PostgreSQL advisory lock, so one process migrates while the others wait, then find the
schema at head and do nothing."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text

from ledger.db import owner_engine
from migrations import objects

MIGRATIONS_DIR = Path(__file__).parent
# One key for "the schema is being migrated"; advisory locks are per database, so
# upgrades of different databases on one server do not wait for each other.
UPGRADE_LOCK_KEY = 0x706F696E74736221  # "pointsb!"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(database_url: str, revision: str = "head",
            on_wait: Callable[[], None] | None = None) -> tuple[str | None, str | None]:
    """Migrate to `revision` under the upgrade lock; answer (revision before, revision after).
    At head, the SQL functions and triggers follow their files (below head they are left
    as they are: they are written for the newest tables). `on_wait` is called once if another upgrade holds the lock and this one waits for it."""
    engine = owner_engine(database_url)
    try:
        with engine.connect() as connection:
            _lock(connection, on_wait)
            try:
                before = _current_revision(connection)
                config = alembic_config()
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                if revision == "head":
                    with connection.begin():
                        objects.apply_changed(connection.connection.driver_connection)
                return before, _current_revision(connection)
            finally:
                connection.rollback()
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": UPGRADE_LOCK_KEY})
                connection.commit()
    finally:
        engine.dispose()


def _lock(connection: Connection, on_wait: Callable[[], None] | None) -> None:
    """Take the session-level upgrade lock (it outlives the transactions the migrations
    commit), waiting for whoever holds it."""
    key = {"key": UPGRADE_LOCK_KEY}
    if not connection.execute(text("SELECT pg_try_advisory_lock(:key)"), key).scalar_one():
        if on_wait is not None:
            on_wait()
        connection.execute(text("SELECT pg_advisory_lock(:key)"), key)
    connection.commit()


def _current_revision(connection: Connection) -> str | None:
    revision = MigrationContext.configure(connection).get_current_revision()
    connection.commit()
    return revision
