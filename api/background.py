"""What `serve` does on its own, periodically: release expired vouchers, seal checkpoints.

Each job runs every `interval_s` until stopped; a failed round is logged and the next one
covers what it missed. Stopping lets the round under way finish. With a `leader` check
(`api.leader.Leadership.leading`), a round runs only in the one process that leads, so
several workers and servers on one database run each round once."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

LeaderCheck = Callable[[], Awaitable[bool]]

log = logging.getLogger(__name__)


class PeriodicJobs:
    def __init__(self, leading: LeaderCheck | None = None) -> None:
        self._leading = leading
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, name: str, interval_s: float, job: Callable[[], Awaitable[object]]) -> None:
        if interval_s > 0:
            self._tasks.append(asyncio.create_task(self._every(name, interval_s, job), name=name))

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _every(self, name: str, interval_s: float, job: Callable[[], Awaitable[object]]) -> None:
        while True:
            try:
                await asyncio.wait_for(self._stop.wait(), interval_s)
                return
            except asyncio.TimeoutError:
                pass
            if self._leading is not None and not await self._leading():
                continue
            try:
                done = await job()
                if done:
                    log.info("%s: %s", name, len(done) if isinstance(done, (list, tuple)) else done)
            except Exception:  # keep the job alive: the next round retries
                log.exception("%s failed", name)
