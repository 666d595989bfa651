"""Hearing revocations: a dedicated connection LISTENs on the channel the database
notifies when a token is revoked (trigger `api_tokens_notify_revoked`, at COMMIT). Each
notice, and each loss or gain of the connection, bumps `generation`; a token cache
empties itself when the generation moves and does not cache at all while `live` is
False.

`drain()` reads whatever the connection's socket already holds, without blocking; the
event loop calls it when the socket is readable, and the cache calls it before every hit,
so a notice that has reached this machine is never overtaken by a request served from
the cache. (The process that revokes also empties its own cache at once.)
"""
from __future__ import annotations

import asyncio
import logging

import psycopg
from psycopg import pq

CHANNEL = "pb_token_revoked"
RECONNECT_PAUSE_S_MIN = 0.5
RECONNECT_PAUSE_S_MAX = 30.0

log = logging.getLogger(__name__)


class RevocationListener:
    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._task: asyncio.Task[None] | None = None
        self._conn: psycopg.AsyncConnection | None = None
        self._lost = asyncio.Event()
        self.live = False
        self.generation = 0

    def moved(self, live: bool) -> None:
        """Something may have been revoked (or the listener came or went): caches empty."""
        self.generation += 1
        self.live = live

    async def start(self) -> None:
        self._task = asyncio.create_task(self._keep_listening(), name="token revocations")

    async def stop(self) -> None:
        self.moved(False)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def drain(self) -> None:
        """Take every notice the socket holds now; never blocks."""
        conn = self._conn
        if conn is None:
            return
        heard = False
        try:
            conn.pgconn.consume_input()
            while conn.pgconn.notifies() is not None:
                heard = True
            broken = conn.pgconn.status != pq.ConnStatus.OK
        except Exception:   # psycopg raises on a connection that is gone
            broken = True
        if broken:
            self._conn = None
            self.moved(False)
            self._lost.set()
        elif heard:
            self.moved(True)

    async def _keep_listening(self) -> None:
        pause = RECONNECT_PAUSE_S_MIN
        loop = asyncio.get_running_loop()
        while True:
            conn = None
            try:
                conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
                await conn.execute(f"LISTEN {CHANNEL}")
                self._lost.clear()
                self._conn = conn
                loop.add_reader(conn.pgconn.socket, self.drain)
                self.moved(True)
                pause = RECONNECT_PAUSE_S_MIN
                await self._lost.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the cache is off until the connection is back
                log.warning("token revocation listener: %s; not caching tokens", exc)
            finally:
                self._conn = None
                if conn is not None:
                    try:
                        loop.remove_reader(conn.pgconn.socket)
                    except Exception:
                        pass
                    await conn.close()
            log.warning("token revocation listener disconnected; not caching tokens until it is back")
            self.moved(False)
            await asyncio.sleep(pause)
            pause = min(pause * 2, RECONNECT_PAUSE_S_MAX)
