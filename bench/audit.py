"""Audit: a full reconciliation's time per million postings, and the checkpoint sealing
rate in entries per second.

The book is generated in bulk as the database owner with triggers bypassed (the way a
restore would load it): one fund entry, then earn entries from the budget to many
residents, with account positions, running balances and cached balances computed
set-based so the book is exactly what the triggers would have made. The audit then
checks every posting of it.
"""
from __future__ import annotations

import json
import time

import psycopg

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
    with psycopg.connect(database_url) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("INSERT INTO realms (code, name) VALUES (%s, 'bench')", (BENCH_REALM,))
        conn.execute("""
            INSERT INTO accounts (realm, kind, asset, floor, label)
            VALUES (%(r)s, 'funding', 'civic', NULL, 'funding'), (%(r)s, 'budget', 'civic', 0, 'budget')""",
                     {"r": BENCH_REALM})
        conn.execute("""
            INSERT INTO accounts (realm, kind, asset, floor, resident_id)
            SELECT %s, 'resident', 'civic', 0, n FROM generate_series(1, %s) n""", (BENCH_REALM, RESIDENTS))
        conn.execute("""
            INSERT INTO entries (realm, kind, created_by, created_at, created_txid)
            SELECT %s, CASE WHEN n = 0 THEN 'fund' ELSE 'earn' END, 'bench',
                   now() + n * interval '1 microsecond', txid_current()
              FROM generate_series(0, %s) n""", (BENCH_REALM, entries))
        conn.execute("""
            WITH accounts_by_kind AS (
                SELECT max(id) FILTER (WHERE kind = 'funding') AS funding,
                       max(id) FILTER (WHERE kind = 'budget') AS budget,
                       min(id) FILTER (WHERE kind = 'resident') AS first_resident
                  FROM accounts WHERE realm = %(r)s),
            numbered AS (
                SELECT e.id, e.kind, e.created_at, row_number() OVER (ORDER BY e.id) - 1 AS n
                  FROM entries e WHERE e.realm = %(r)s),
            lines AS (
                SELECT n.id AS entry_id, n.created_at, a.funding AS account_id, -10 * %(entries)s::bigint AS amount
                  FROM numbered n, accounts_by_kind a WHERE n.kind = 'fund'
                UNION ALL
                SELECT n.id, n.created_at, a.budget, 10 * %(entries)s::bigint
                  FROM numbered n, accounts_by_kind a WHERE n.kind = 'fund'
                UNION ALL
                SELECT n.id, n.created_at, a.budget, -(1 + n.n %% 7)
                  FROM numbered n, accounts_by_kind a WHERE n.kind = 'earn'
                UNION ALL
                SELECT n.id, n.created_at, a.first_resident + n.n %% %(residents)s, 1 + n.n %% 7
                  FROM numbered n, accounts_by_kind a WHERE n.kind = 'earn')
            INSERT INTO postings (realm, entry_id, account_id, account_seq, asset, amount, balance_after, created_at)
            SELECT %(r)s, entry_id, account_id,
                   row_number() OVER (PARTITION BY account_id ORDER BY entry_id), 'civic', amount,
                   sum(amount) OVER (PARTITION BY account_id ORDER BY entry_id), created_at
              FROM lines""", {"r": BENCH_REALM, "entries": entries, "residents": RESIDENTS})
        conn.execute("ANALYZE postings, accounts")  # fresh statistics: aggregate once, then join
        conn.execute("""
            UPDATE accounts a SET balance = s.total, posting_count = s.n
              FROM (SELECT account_id, sum(amount) AS total, count(*) AS n FROM postings
                     WHERE realm = %s GROUP BY account_id) s
             WHERE a.realm = %s AND a.id = s.account_id""", (BENCH_REALM, BENCH_REALM))
        conn.execute("SET session_replication_role = origin")
        conn.commit()
        conn.autocommit = True
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
