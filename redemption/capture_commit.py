"""Group commit for captures: concurrent redemptions share one transaction and one COMMIT.

Every redemption in a realm moves points off the realm's one hold account, whose row lock
is held until COMMIT; one transaction per redemption makes them queue on it. Here each
writer takes the captures waiting (up to a named maximum) and runs them with one call of
`voucher_capture_batch` (each capture in its own subtransaction, so one refusal does not
sink the others) and one COMMIT. A capture is acknowledged only after that COMMIT.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger import db, errors
from ledger.group_commit import result_error

BATCH_SIZE_MAX = 64

log = logging.getLogger(__name__)

_CAPTURE_BATCH = text("SELECT voucher_capture_batch(CAST(:requests AS jsonb))")
_Pending = tuple[dict[str, Any], "asyncio.Future[dict[str, Any]]"]


async def capture_batch(conn: AsyncConnection, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result = await conn.execute(_CAPTURE_BATCH, {"requests": json.dumps(requests)})
    return result.scalar_one()


class CaptureCommit:
    def __init__(self, engine: AsyncEngine, writers: int, batch_size_max: int = BATCH_SIZE_MAX) -> None:
        self._engine = engine
        self._writer_count = writers
        self._batch_size_max = batch_size_max
        self._queue: asyncio.Queue[_Pending] | None = None
        self._writers: list[asyncio.Task[None]] = []

    async def capture(self, request: dict[str, Any]) -> dict[str, Any]:
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._writers = [asyncio.create_task(self._write_forever(self._queue))
                             for _ in range(self._writer_count)]
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((request, future))
        return await future

    async def close(self) -> None:
        for task in self._writers:
            task.cancel()
        await asyncio.gather(*self._writers, return_exceptions=True)
        self._writers.clear()
        self._queue = None

    async def _write_forever(self, queue: asyncio.Queue[_Pending]) -> None:
        while True:
            batch = [await queue.get()]
            while len(batch) < self._batch_size_max and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                await self._commit(batch)
            except Exception:  # never let a writer die: fail the batch, keep serving
                log.exception("capture group commit failed")
                for _, future in batch:
                    if not future.done():
                        future.set_exception(errors.Unavailable("the capture could not commit"))

    async def _commit(self, batch: list[_Pending]) -> None:
        requests = [request for request, _ in batch]
        try:
            results = await db.in_transaction(self._engine, lambda conn: capture_batch(conn, requests))
        except (DBAPIError, errors.DomainError) as exc:
            if len(batch) > 1:  # a refusal at COMMIT: find the culprit by committing each alone
                for pending in batch:
                    await self._commit([pending])
                return
            _settle(batch[0][1], exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result)


def _settle(future: asyncio.Future[dict[str, Any]], outcome: Any) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        mapped = db.domain_error(outcome) if isinstance(outcome, DBAPIError) else None
        future.set_exception(mapped or outcome)
    elif "error" in outcome:
        future.set_exception(result_error(outcome))
    else:
        future.set_result(outcome)
