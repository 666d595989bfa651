"""Group commit: concurrent writes share one database round trip and one COMMIT.

One commit per request caps throughput at the disk's flush rate. Here each writer takes
whatever requests are waiting (up to a named maximum), runs them with one call of a batch
function in SQL (`ledger_post_batch` for entries, `voucher_capture_batch` for captures,
`voucher_issue_batch` for issues: each item in its own subtransaction, so one refusal does
not sink the others, one result per item) as a single autocommitted statement, and answers each caller. Durability is
unchanged: a request is acknowledged only after the COMMIT that contains it returned.

The queue is bounded (`queue_depth_max`): when the writers fall that far behind, a new
request is refused at once with `Overloaded` (503 with Retry-After) rather than
waiting until its client times out; nothing of it was written, so a retry is safe.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger import db, errors
from ledger.require import require

BATCH_SIZE_MAX = 256
WRITERS_DEFAULT = 2
QUEUE_DEPTH_MAX = 4096   # requests waiting for a writer; past it, new ones are shed
LINK_IDLE_S = 0.2        # a writer with no request for this long gives its connection back

log = logging.getLogger(__name__)

_Pending = tuple[dict[str, Any], "asyncio.Future[dict[str, Any]]"]


class GroupCommit:
    def __init__(self, engine: AsyncEngine, batch_function: str = "ledger_post_batch",
                 writers: int = WRITERS_DEFAULT, batch_size_max: int = BATCH_SIZE_MAX,
                 queue_depth_max: int = QUEUE_DEPTH_MAX) -> None:
        require(re.fullmatch(r"[a-z_]+", batch_function) is not None, "a batch function is a plain name")
        require(queue_depth_max >= 1, "the queue holds at least one request")
        self._engine = engine
        self._statement = f"SELECT {batch_function}(%s::jsonb)"
        self._writer_count = writers
        self._batch_size_max = batch_size_max
        self._queue_depth_max = queue_depth_max
        self._queue: asyncio.Queue[_Pending] | None = None
        self._writers: list[asyncio.Task[None]] = []

    async def submit(self, request: dict[str, Any]) -> dict[str, Any]:
        """The item's result once its batch committed; its refusal raised as a domain error."""
        queue = self._started()
        if queue.qsize() >= self._queue_depth_max:
            raise errors.Overloaded("the ledger's write queue is full; retry shortly")
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        queue.put_nowait((request, future))
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
        link = _Link(self._engine)
        try:
            while True:
                batch = [await _next_request(queue, link)]
                while len(batch) < self._batch_size_max and not queue.empty():
                    batch.append(queue.get_nowait())
                try:
                    await self._commit(batch, link)
                except Exception:  # never let a writer die: fail the batch, keep serving
                    log.exception("group commit failed")
                    await link.drop()
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(errors.Unavailable("the ledger could not commit"))
        finally:
            await link.drop()

    async def _commit(self, batch: list[_Pending], link: _Link) -> None:
        requests = [request for request, _ in batch]
        try:
            results = await db.retrying(lambda: self._run(link, requests))
        except (*db.DatabaseError, errors.DomainError) as exc:
            if isinstance(exc, errors.Overloaded):  # no connection came free, or the statement timed out:
                for _, future in batch:             # nothing was written
                    _settle(future, exc)
                return
            await link.drop()   # whatever else failed on it, a connection is not trusted again
            if db.is_unreachable(exc):  # the COMMIT may or may not have happened: never redo
                for _, future in batch:
                    _settle(future, errors.Unavailable("the database connection failed; retry with "
                                                       "the same Idempotency-Key"))
                return
            if len(batch) > 1:  # a refusal at COMMIT: find the culprit by committing each alone
                for pending in batch:
                    await self._commit([pending], link)
                return
            _settle(batch[0][1], exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result)

    async def _run(self, link: _Link, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # psycopg itself, prepared, on the writer's own connection: per batch, SQLAlchemy's
        # asyncio bridge (and a pool checkout) cost more than the statement's client side
        # (issue 17, bench/RESULTS.md)
        cursor = await (await link.driver()).execute(self._statement, (json.dumps(requests),), prepare=True)
        found = await cursor.fetchone()
        require(found is not None, "a batch function answers one row")
        return found[0]


async def _next_request(queue: asyncio.Queue[_Pending], link: _Link) -> _Pending:
    """The next request; a writer that waits LINK_IDLE_S for one gives its connection back
    to the pool meanwhile (so an idle service holds none, and a small pool is not kept)."""
    if not queue.empty() or link.idle:
        return await queue.get()
    try:
        return await asyncio.wait_for(queue.get(), LINK_IDLE_S)
    except asyncio.TimeoutError:
        await link.give_back()
        return await queue.get()


class _Link:
    """A writer's connection: checked out of the engine's pool when first needed and kept,
    in autocommit, while batches keep coming (a checkout per batch cost about 80 µs of the
    server's CPU, a fifth of an entry's at two entries a batch); given back after
    LINK_IDLE_S without one. Dropped (invalidated, never reused) when anything failed on
    it and when the writer stops."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._held: AsyncConnection | None = None
        self._driver: psycopg.AsyncConnection[Any] | None = None

    async def driver(self) -> psycopg.AsyncConnection[Any]:
        if self._driver is None:
            held = await self._engine.connect()
            try:
                await held.execution_options(isolation_level="AUTOCOMMIT")
                self._driver = (await held.get_raw_connection()).driver_connection
            except BaseException:
                await held.close()
                raise
            self._held = held
        return self._driver

    @property
    def idle(self) -> bool:
        return self._held is None

    async def give_back(self) -> None:
        """Back to the pool, as any connection is (SQLAlchemy undoes the autocommit)."""
        await self._release(invalidate=False)

    async def drop(self) -> None:
        """Never to be used again (it failed, or its writer stops)."""
        await self._release(invalidate=True)

    async def _release(self, invalidate: bool) -> None:
        held, self._held, self._driver = self._held, None, None
        if held is None:
            return
        try:
            if invalidate:
                await held.invalidate()
            await held.close()
        except Exception:  # already gone: the pool forgets it
            log.debug("releasing a group commit connection", exc_info=True)


def _settle(future: asyncio.Future[dict[str, Any]], outcome: Any) -> None:
    if future.done():  # the caller went away; its write is committed all the same
        return
    if isinstance(outcome, BaseException):
        mapped = db.domain_error(outcome) if isinstance(outcome, db.DatabaseError) else None
        future.set_exception(mapped or outcome)
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
