"""One leader for the background jobs, across every worker and every server process.

Expiring vouchers, sealing checkpoints, closing activities: each round should run once,
not once per process. The leader is whichever process holds a session-level advisory
lock (`JOBS_LOCK_KEY`) on a connection of its own. It keeps the lock while that
connection lives; when the process or its connection dies, PostgreSQL releases the lock
and the next process to ask takes it, at its next round. A process asks before every
round (`leading()`), which costs one round trip on an idle connection.

The jobs stay safe to run twice (each is idempotent in the database), because a leader
cut off from the database by a silent network keeps believing it leads until its next
round trip fails, while the database may already have handed the lock to another.
"""
from __future__ import annotations

import asyncio
import logging

import psycopg

JOBS_LOCK_KEY = 0x5042_4A4F_4253   # "PBJOBS": one number every Points Bank process agrees on
CONNECT_TIMEOUT_S = 5

log = logging.getLogger(__name__)


class Leadership:
    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._conn: psycopg.AsyncConnection | None = None
        self._lock = asyncio.Lock()
        self.leader = False

    async def leading(self) -> bool:
        """True while this process holds the jobs lock; takes it when it is free."""
        async with self._lock:
            try:
                conn = await self._connection()
                if self.leader:
                    await conn.execute("SELECT 1")    # still connected: still holding the lock
                    return True
                row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", (JOBS_LOCK_KEY,))).fetchone()
                self.leader = bool(row and row[0])
                if self.leader:
                    log.info("leading the background jobs")
                return self.leader
            except (psycopg.Error, OSError):
                await self._drop()
                return False

    async def close(self) -> None:
        async with self._lock:
            await self._drop()

    async def _connection(self) -> psycopg.AsyncConnection:
        if self._conn is None or self._conn.closed:
            self.leader = False
            self._conn = await psycopg.AsyncConnection.connect(
                self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        return self._conn

    async def _drop(self) -> None:
        if self.leader:
            log.warning("no longer leading the background jobs (connection lost)")
        self.leader = False
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await conn.close()
            except (psycopg.Error, OSError):
                pass
