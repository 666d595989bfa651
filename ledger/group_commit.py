"""Group commit: concurrent posts share one database round trip and one COMMIT.

One commit per request caps throughput at the disk's flush rate. Here each writer takes
whatever posts are waiting (up to a named maximum), posts them with one call of
`ledger_post_batch` (each entry in its own subtransaction, so one refusal does not sink
the others) and commits once. Durability is unchanged: a post is acknowledged only after
the COMMIT that contains it returned.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import db, errors, model, repository

BATCH_SIZE_MAX = 256
WRITERS_DEFAULT = 2

log = logging.getLogger(__name__)

_Pending = tuple[model.EntryDraft, "asyncio.Future[dict[str, Any]]"]


class GroupCommit:
    def __init__(self, engine: AsyncEngine, writers: int = WRITERS_DEFAULT,
                 batch_size_max: int = BATCH_SIZE_MAX) -> None:
        self._engine = engine
        self._writer_count = writers
        self._batch_size_max = batch_size_max
        self._queue: asyncio.Queue[_Pending] | None = None
        self._writers: list[asyncio.Task[None]] = []

    async def post(self, draft: model.EntryDraft) -> dict[str, Any]:
        queue = self._started()
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        queue.put_nowait((draft, future))
        return await future

    async def close(self) -> None:
        for task in self._writers:
            task.cancel()
        await asyncio.gather(*self._writers, return_exceptions=True)
        self._writers.clear()
        self._queue = None

    def _started(self) -> asyncio.Queue[_Pending]:
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._writers = [asyncio.create_task(self._write_forever(self._queue))
                             for _ in range(self._writer_count)]
        return self._queue

    async def _write_forever(self, queue: asyncio.Queue[_Pending]) -> None:
        while True:
            batch = [await queue.get()]
            while len(batch) < self._batch_size_max and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                await self._commit(batch)
            except Exception:  # never let a writer die: fail the batch, keep serving
                log.exception("group commit failed")
                for _, future in batch:
                    if not future.done():
                        future.set_exception(errors.Unavailable("the ledger could not commit"))

    async def _commit(self, batch: list[_Pending]) -> None:
        drafts = [draft for draft, _ in batch]
        try:
            results = await db.in_one_statement(
                self._engine, lambda conn: repository.post_batch(conn, drafts))
        except (DBAPIError, errors.DomainError) as exc:
            if len(batch) > 1:  # find the culprit: commit each alone
                for pending in batch:
                    await self._commit([pending])
                return
            _settle(batch[0][1], exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result)


def _settle(future: asyncio.Future[dict[str, Any]], outcome: Any) -> None:
    if future.done():  # the caller went away; its entry is committed all the same
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    elif "error" in outcome:
        future.set_exception(result_error(outcome))
    else:
        future.set_result(outcome)


def result_error(result: dict[str, Any]) -> errors.DomainError:
    detail = result.get("detail") or {}
    if result["error"] == "constraint_violation":
        cls = db.CONSTRAINT_ERRORS.get(detail.get("constraint") or "")
        return cls() if cls else errors.DomainError(detail.get("message", "constraint violation"))
    return db.error_from_raise(result["error"], detail)
