"""One-statement reads through psycopg itself, for the hot look-ups.

Every authenticated request reads its token (when not cached), most read a merchant or an
account: one indexed row each. Through SQLAlchemy's asyncio bridge such a read cost about
380 µs of the server's CPU, where the query itself costs the client under 70 µs (issue 17,
bench/RESULTS.md). Here a read is prepared on the server, answered as dicts and runs in
autocommit (no BEGIN/ROLLBACK), on a small pool of psycopg connections of its own
(`Reads.pooled`, what the app uses), or on a connection borrowed from the engine's pool
(`Reads(engine)`, for tools and tests). Errors are the engine's: an unreachable database
raises psycopg's OperationalError (503 `database_unavailable`), a full pool `Overloaded`.
"""
from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row
from sqlalchemy.engine import make_url
from sqlalchemy.exc import TimeoutError as EnginePoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import db, errors
from ledger.require import require

Connection = psycopg.AsyncConnection[Any]
Params = Sequence[Any] | Mapping[str, Any]   # `%s` placeholders, or `%(name)s` ones


class Reads:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._pool: _Pool | None = None

    @classmethod
    def pooled(cls, engine: AsyncEngine, database_url: str, size: int,
               timeout_s: float = db.POOL_TIMEOUT_S_DEFAULT, statement_timeout_s: float = 0) -> Reads:
        """Reads on at most `size` connections of their own, opened when first needed; a
        read waits at most `timeout_s` for one (then `Overloaded`)."""
        reads = cls(engine)
        reads._pool = _Pool(libpq_url(database_url), size, timeout_s, db.app_options(statement_timeout_s))
        return reads

    async def row(self, query: str, params: Params = ()) -> dict[str, Any] | None:
        """The first row of one read-only statement (`%s` placeholders), or None."""
        rows = await self.rows(query, params)
        return rows[0] if rows else None

    async def rows(self, query: str, params: Params = ()) -> list[dict[str, Any]]:
        """The rows of one read-only statement (`%s` placeholders)."""
        try:
            if self._pool is not None:
                return await self._pool.fetch(query, params)
            return await self._borrowing(query, params)
        except EnginePoolTimeout:
            raise db.pool_exhausted() from None
        except psycopg.errors.QueryCanceled as exc:
            raise errors.Overloaded("the database is too slow to answer now; retry later") from exc

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    async def _borrowing(self, query: str, params: Params) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            await driver.set_autocommit(True)
            try:
                return await _fetch(driver, query, params)
            finally:
                await driver.set_autocommit(False)


def libpq_url(database_url: str) -> str:
    """The URL as libpq takes it (no SQLAlchemy driver name)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class _Pool:
    """At most `size` autocommit connections: an idle one is reused, a new one opened while
    there are fewer than `size` (a refused connect raises at once), else the read waits.
    A connection that failed or was interrupted mid-read is closed, not reused."""

    def __init__(self, url: str, size: int, timeout_s: float, options: str) -> None:
        require(size >= 1, "a read pool holds at least one connection")
        self._url = url
        self._options = options
        self._timeout_s = timeout_s
        self._slots = asyncio.Semaphore(size)
        self._idle: list[Connection] = []

    async def fetch(self, query: str, params: Params) -> list[dict[str, Any]]:
        if self._slots.locked():
            try:
                await asyncio.wait_for(self._slots.acquire(), self._timeout_s)
            except asyncio.TimeoutError:
                raise db.pool_exhausted() from None
        else:
            await self._slots.acquire()
        try:
            conn = self._idle.pop() if self._idle else await psycopg.AsyncConnection.connect(
                self._url, autocommit=True, options=self._options)
            try:
                rows = await _fetch(conn, query, params)
            except BaseException:
                await _close_quietly(conn)
                raise
            if conn.closed or conn.info.transaction_status != TransactionStatus.IDLE:
                await _close_quietly(conn)
            else:
                self._idle.append(conn)
            return rows
        finally:
            self._slots.release()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await _close_quietly(conn)


async def _fetch(conn: Connection, query: str, params: Params) -> list[dict[str, Any]]:
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(query, params, prepare=True)
    return await cursor.fetchall()


async def _close_quietly(conn: Connection) -> None:
    try:
        await conn.close()
    except (psycopg.Error, OSError):
        pass
