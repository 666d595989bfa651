"""Audit: a full reconciliation's time per million postings, and the checkpoint sealing
rate in entries per second.

The book is generated in bulk (`bench.book`: as the database owner with triggers
bypassed, the way a restore would load it): one fund entry, then earn entries from the
budget to many residents, with account positions, running balances and cached balances
computed so the book is exactly what the triggers would have made. The audit then checks
every posting of it.
"""
from __future__ import annotations

import json
import time

import psycopg

from bench import book
from bench.harness import BenchContext, Result
from ledger import audit, db
from ledger.checkpoints import Checkpoints
from ledger.keys import KeyRing

BENCH_REALM = "439903"
RESIDENTS = 20_000
POSTINGS_FULL = 1_000_000
POSTINGS_QUICK = 20_000


def generate_book(database_url: str, entries: int) -> None:
    """`entries` earn entries (two postings each) plus one fund entry, in one realm."""
    book.generate_book(database_url, BENCH_REALM, RESIDENTS, entries)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE entries, postings, accounts")


async def run(ctx: BenchContext) -> None:
    postings = ctx.scale(POSTINGS_FULL, POSTINGS_QUICK)
    entries = postings // 2 - 1
    started = time.perf_counter()
    generate_book(ctx.database_url, entries)
    print(f"generated {postings} postings in {time.perf_counter() - started:.1f} s", flush=True)

    engine = db.app_engine(ctx.database_url, pool_size=2)
    keys = KeyRing(ctx.key_dir)  # the run's keys: earlier benchmarks' servers sealed with them
    try:
        started = time.perf_counter()
        checkpoints, sealed = Checkpoints(engine, keys), 0
        while (head := await checkpoints.seal(BENCH_REALM)) is not None:
            sealed = head["tree_size"]
        sealing = time.perf_counter() - started
        ctx.report("audit.seal", Result("checkpoint sealing (entries sealed)", sealed, sealing,
                                        unit="entries"))

        started = time.perf_counter()
        report = await audit.run_audit(engine)
        elapsed = time.perf_counter() - started
    finally:
        await engine.dispose()
    if not report.ok:
        failed = [check for check in report.as_json()["checks"] if not check["ok"]]
        raise RuntimeError(f"the book failed the audit: {json.dumps(failed, default=str)[:2000]}")
    per_million = elapsed / (postings / 1_000_000)
    ctx.report("audit.full", Result(f"full audit of {postings} postings", postings, elapsed, unit="postings"))
    print(f"{'full audit, seconds per million postings':<58} {per_million:10.1f} s", flush=True)
    for check in report.results:
        print(f"  {check.name:<40} {check.seconds:8.2f} s", flush=True)
