"""Connections: URLs, engines, the application role, retries and database errors."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ledger import errors

APP_ROLE = "pointsbank_app"
POOL_SIZE_DEFAULT = 20
POOL_TIMEOUT_S_DEFAULT = 30.0  # tools and tests wait this long; `serve` waits less (api.settings)
RETRIES_MAX = 8          # deadlock / serialization retries before giving up
RETRY_PAUSE_S = 0.005

RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure
STATEMENT_TIMEOUT_SQLSTATE = "57014"      # query_canceled: the statement timeout struck
# Unique constraints whose violation means "already done", by constraint name.
CONSTRAINT_ERRORS: dict[str, type[errors.DomainError]] = {
    "entries_reversed_once": errors.EntryAlreadyReversed,
    "accounts_system_unique": errors.AccountExists,
    "accounts_resident_unique": errors.AccountExists,
    "accounts_merchant_unique": errors.AccountExists,
    "accounts_clearing_unique": errors.AccountExists,
    "realms_pkey": errors.RealmExists,
    "accounts_floor": errors.InsufficientPoints,
    "postings_amount_nonzero": errors.ZeroAmount,
}

T = TypeVar("T")


def sqlalchemy_url(database_url: str) -> str:
    """`postgresql://user:pass@host:port/db[?host=/socket/dir]` for SQLAlchemy on psycopg 3."""
    url = make_url(database_url)
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        url = url.set(drivername="postgresql+psycopg")
    else:
        raise ValueError(f"DATABASE_URL must be a postgresql:// URL, not {url.drivername}://")
    return url.render_as_string(hide_password=False)


def app_engine(database_url: str, pool_size: int = POOL_SIZE_DEFAULT,
               pool_overflow: int | None = None, pool_timeout_s: float = POOL_TIMEOUT_S_DEFAULT,
               statement_timeout_s: float = 0, options: str = "") -> AsyncEngine:
    """The service's engine: every connection runs as the application role, with a
    statement timeout (0: none) and `options`, more server settings (`-c name=value ...`);
    at most `pool_size + pool_overflow` connections (overflow: as many again by default),
    and a caller waits at most `pool_timeout_s` for one (then `Overloaded`)."""
    return create_async_engine(
        sqlalchemy_url(database_url),
        pool_size=pool_size,
        max_overflow=pool_size if pool_overflow is None else pool_overflow,
        pool_timeout=pool_timeout_s,
        pool_pre_ping=False,
        connect_args={"options": app_options(statement_timeout_s, options)},
    )


def app_options(statement_timeout_s: float = 0, options: str = "") -> str:
    """The server settings of every application connection: its role, UTC, the timeout."""
    statement_timeout_ms = round(statement_timeout_s * 1000)
    return f"-c role={APP_ROLE} -c timezone=UTC -c statement_timeout={statement_timeout_ms} {options}".strip()


def owner_engine(database_url: str) -> Engine:
    """A synchronous engine as the connecting user (the schema's owner), for migrations."""
    return create_engine(sqlalchemy_url(database_url), pool_size=1, max_overflow=0)


def sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", exc)
    return getattr(orig, "sqlstate", None)


# A database error: SQLAlchemy's wrapper, or psycopg's own where a hot path runs psycopg
# directly (`ledger.reads`, group commit's statement).
DatabaseError = (DBAPIError, psycopg.Error)


def domain_error(exc: DBAPIError | psycopg.Error) -> errors.DomainError | None:
    """The domain error a database error stands for, or None for a real failure."""
    orig = getattr(exc, "orig", exc)
    diag = getattr(orig, "diag", None)
    state = sqlstate(exc)
    if state == STATEMENT_TIMEOUT_SQLSTATE:
        return errors.Overloaded("the database is too slow to answer now; retry later")
    if state == "P0001" and diag is not None:
        return error_from_raise(diag.message_primary or "", diag.message_detail)
    if state in ("23505", "23514") and diag is not None:
        cls = CONSTRAINT_ERRORS.get(diag.constraint_name or "")
        if cls is not None:
            return cls()
    return None


def error_from_raise(code: str, detail: str | dict | None) -> errors.DomainError:
    if isinstance(detail, str):
        try:
            detail = json.loads(detail)
        except ValueError:
            detail = {"detail": detail}
    return errors.error_from_code(code, detail if isinstance(detail, dict) else {})


def is_unreachable(exc: BaseException) -> bool:
    """The database could not be reached or dropped the connection (not a refusal)."""
    return (isinstance(exc, (OperationalError, psycopg.OperationalError))
            or bool(getattr(exc, "connection_invalidated", False))
            or sqlstate(exc) in ("08001", "08006", "57P03"))


async def in_transaction(engine: AsyncEngine,
                         work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run `work` in one transaction; retry on deadlock or serialization failure; turn
    database refusals into domain errors."""

    async def attempt() -> T:
        async with engine.begin() as conn:
            return await work(conn)

    return await retrying(attempt)


async def in_one_statement(engine: AsyncEngine,
                           work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run `work`, a single statement, as its own transaction: one round trip, with the
    statement's implicit COMMIT done (durably) before it answers. Same retries and error
    mapping as `in_transaction`."""

    async def attempt() -> T:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            return await work(conn)

    return await retrying(attempt)


async def read(engine: AsyncEngine, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run read-only `work` on a pooled connection without BEGIN/ROLLBACK round trips
    (each statement sees its own snapshot)."""
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            return await work(conn)
    except PoolTimeout:
        raise pool_exhausted() from None
    except DBAPIError as exc:
        mapped = domain_error(exc)
        if mapped is None:
            raise
        raise mapped from exc


def pool_exhausted() -> errors.Overloaded:
    """No pooled connection came free in time: shed the request (nothing was done)."""
    return errors.Overloaded("every database connection is busy; retry shortly")


async def retrying(attempt: Callable[[], Awaitable[T]]) -> T:
    """`attempt()`, again after a deadlock or serialization failure (at most RETRIES_MAX
    times); no pooled connection in time: `Overloaded`; a refusal: its domain error."""
    for number in range(1, RETRIES_MAX + 1):
        try:
            return await attempt()
        except PoolTimeout:
            raise pool_exhausted() from None
        except DatabaseError as exc:
            if sqlstate(exc) in RETRYABLE_SQLSTATES and number < RETRIES_MAX:
                await asyncio.sleep(RETRY_PAUSE_S * number)
                continue
            mapped = domain_error(exc)
            if mapped is not None:
                raise mapped from exc
            raise
    raise errors.Unavailable("the database kept deadlocking; try again")
