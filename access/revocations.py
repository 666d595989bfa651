"""Hearing revocations, so that a token cache is never behind one.

A dedicated connection LISTENs on the channel the database notifies when a token is
revoked (trigger `api_tokens_notify_revoked`, at COMMIT). Before a request may use the
cache, it waits for `synced()`: a round trip on that connection that started after the
request arrived. PostgreSQL sends a listening session its pending notices before it
answers a later query, so every revocation committed before the request arrived has
been heard by then (it bumps `generation`, and the cache empties). Concurrent requests
share one round trip (like group commit), which costs far less than a look-up each.
While the connection is down, `synced()` answers False and nothing is cached.
"""
from __future__ import annotations

import asyncio
import logging

import psycopg

CHANNEL = "pb_token_revoked"
RECONNECT_PAUSE_S_MIN = 0.5
RECONNECT_PAUSE_S_MAX = 30.0
SYNC_TIMEOUT_S = 2.0   # a round trip longer than this: the connection is taken as lost

log = logging.getLogger(__name__)


class RevocationListener:
    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._task: asyncio.Task[None] | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._wanted = asyncio.Event()
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
        self._release(False)

    async def synced(self) -> bool:
        """True once every revocation committed before this call has been heard; False
        when that cannot be known (the listener is down): then do not use a cache."""
        if not self.live:
            return False
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        if not self._waiters:   # a round's first waiter: the round is answered within SYNC_TIMEOUT_S
            loop.call_later(SYNC_TIMEOUT_S, self._expire, self._waiters)
        self._waiters.append(waiter)
        self._wanted.set()
        return await waiter

    def _expire(self, waiters: list[asyncio.Future[bool]]) -> None:
        """SYNC_TIMEOUT_S after a round's first waiter came: whatever of it is still waiting
        is answered False (the listener is stuck: a network gone quiet), so no cache. One
        timer per round, not a `wait_for` per request; later waiters start a new round."""
        if waiters is self._waiters:
            self._waiters = []
        self._release(False, waiters)

    def _release(self, heard_all: bool, waiters: list[asyncio.Future[bool]] | None = None) -> None:
        if waiters is None:
            waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(heard_all)

    async def _keep_listening(self) -> None:
        pause = RECONNECT_PAUSE_S_MIN
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
                    conn.add_notify_handler(lambda _notice: self.moved(True))
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.moved(True)
                    pause = RECONNECT_PAUSE_S_MIN
                    while True:
                        await self._wanted.wait()
                        self._wanted.clear()
                        waiters, self._waiters = self._waiters, []   # later arrivals wait for the next trip
                        # notices before it are handled first; a trip that never returns
                        # (a network gone quiet) counts as a lost connection
                        await asyncio.wait_for(conn.execute("SELECT 1"), SYNC_TIMEOUT_S)
                        self._release(True, waiters)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # no cache until the connection is back
                log.warning("token revocation listener: %s; not caching tokens", exc)
            self.moved(False)
            self._release(False)
            await asyncio.sleep(pause)
            pause = min(pause * 2, RECONNECT_PAUSE_S_MAX)
