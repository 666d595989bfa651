"""Hearing revocations: a dedicated connection LISTENs on the channel the database
notifies when a token is revoked (trigger `api_tokens_notify_revoked`). Each notice, and
each loss or gain of the connection, bumps `generation`; a token cache clears itself when
the generation moves and does not cache at all while `live` is False. So a revoked token
is refused by every server process as soon as the notice arrives (it is sent at COMMIT,
before the revoking request even answers), and never served from a cache that could
have missed it.
"""
from __future__ import annotations

import asyncio
import logging

import psycopg

CHANNEL = "pb_token_revoked"
RECONNECT_PAUSE_S_MIN = 0.5
RECONNECT_PAUSE_S_MAX = 30.0

log = logging.getLogger(__name__)


class RevocationListener:
    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._task: asyncio.Task[None] | None = None
        self.live = False
        self.generation = 0

    def _moved(self, live: bool) -> None:
        self.generation += 1
        self.live = live

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="token revocations")

    async def stop(self) -> None:
        self._moved(False)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _listen(self) -> None:
        pause = RECONNECT_PAUSE_S_MIN
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._moved(True)
                    pause = RECONNECT_PAUSE_S_MIN
                    async for _ in conn.notifies():
                        self._moved(True)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the cache is off until the connection is back
                log.warning("token revocation listener lost its connection (%s); not caching tokens", exc)
            self._moved(False)
            await asyncio.sleep(pause)
            pause = min(pause * 2, RECONNECT_PAUSE_S_MAX)
