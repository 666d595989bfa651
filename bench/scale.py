"""Issues 17 and 20: does the cost of a write, a history read or an audit grow with the book?

The loaded database grows in stages (`bench.book`, then `VACUUM (ANALYZE)` and a
CHECKPOINT): empty, then 1,000,000 postings, then 10,000,000 postings in one realm over
1,000,000 resident accounts (a tenth of each in the quick run). At each stage:
- transfers per second through the ledger service (group commit, 32 concurrent tasks)
  in another realm of the loaded database and in the loaded realm itself, beside the same
  on an always-empty database; the measures take turns, round after round, so a change
  in the machine's load (it is shared) hits them alike; each figure is the best of its
  rounds, and its ratio to the empty database is printed (target >= 0.9);
- history reads: `GET /v1/accounts/{id}/postings` at a random depth in the budget
  account, which holds a posting of every generated entry (p99 target < 20 ms);
- a full audit of the database (target: 10,000,000 postings in under 5 minutes);
- bytes per posting (the `postings` table with its indexes and TOAST).
"""
from __future__ import annotations

import random
import time

import psycopg

from api.auth import create_token
from bench import book, ledger
from bench.harness import BenchContext, Result, fresh_database, http_load, http_request, served_app
from ledger import audit, db
from ledger.service import HISTORY_CURSOR

EMPTY_REALM = "439961"    # in the empty database, and in the loaded one beside the loaded realm
LOADED_REALM = "439962"   # loaded in bulk, and written to after the load
ACCOUNTS_FULL, POSTINGS_FULL = 1_000_000, 10_000_000
ACCOUNTS_QUICK, POSTINGS_QUICK = 20_000, 200_000
ROUNDS = 3
STAGES = 2                   # the book is loaded in this many steps: a tenth, then the rest
HISTORY_READS, HISTORY_CLIENTS, HISTORY_PAGE = 2_000, 8, 50


def load(database_url: str, accounts: int, postings: int) -> None:
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        print(f"  {done:,} of {total:,} entries loaded ({time.perf_counter() - started:.0f} s)", flush=True)

    loaded = book.generate_book(database_url, LOADED_REALM, accounts, postings // 2 - 1, progress=progress)
    print(f"loaded {loaded.residents:,} accounts and {2 * (loaded.entries + 1):,} postings "
          f"in {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")
    print(f"VACUUM (ANALYZE) and CHECKPOINT in {time.perf_counter() - started:.0f} s", flush=True)


def book_size(database_url: str) -> tuple[int, float]:
    """(postings, bytes per posting of the table with its indexes)."""
    with psycopg.connect(database_url) as conn:
        postings, size = conn.execute(
            "SELECT (SELECT coalesce(sum(posting_count), 0) FROM accounts), pg_total_relation_size('postings')"
        ).fetchone()
    return int(postings), (size / postings if postings else 0.0)


async def history_reads(database_url: str, ctx: BenchContext, label: str) -> Result:
    """Pages of the loaded realm's budget account, each at a random depth."""
    with psycopg.connect(database_url) as conn:
        budget, depth = conn.execute("SELECT id, posting_count FROM accounts WHERE realm = %s AND kind = 'budget'"
                                     " AND asset = 'civic'", (LOADED_REALM,)).fetchone()
    engine = db.app_engine(database_url, pool_size=1)
    try:
        token = await create_token(engine, "auditor", LOADED_REALM, label="bench")
    finally:
        await engine.dispose()
    rng = random.Random(5)

    def request(_: int) -> bytes:
        cursor = HISTORY_CURSOR.encode(rng.randint(1, max(1, depth - HISTORY_PAGE)))
        return http_request("GET", f"/v1/accounts/{budget}/postings?limit={HISTORY_PAGE}&cursor={cursor}",
                            Authorization=f"Bearer {token}")

    reads = ctx.scale(HISTORY_READS, 200)
    with served_app(database_url, ctx.key_dir) as port:
        await http_load(port, request, min(100, reads), HISTORY_CLIENTS)   # warm up
        result, statuses = await http_load(port, request, reads, HISTORY_CLIENTS)
    if set(statuses) != {200}:
        print(f"   unexpected statuses: {dict(statuses)}")
    result.name, result.unit = f"history page at a random depth of {depth:,}, {label}", "reads"
    return result


async def full_audit(database_url: str, label: str) -> Result:
    engine = db.app_engine(database_url, pool_size=2)
    try:
        started = time.perf_counter()
        report = await audit.run_audit(engine)
        elapsed = time.perf_counter() - started
    finally:
        await engine.dispose()
    postings, _ = book_size(database_url)
    if not report.ok:
        print("   the audit FAILED: " + ", ".join(c["name"] for c in report.as_json()["checks"] if not c["ok"]))
    return Result(f"full audit, {label}", postings, elapsed, unit="postings")


async def transfer_rounds(measures: list[tuple[str, str, str, str]], wallets: dict[str, list[int]],
                          total: int, stage: str) -> dict[str, Result]:
    best: dict[str, Result] = {}
    for round_number in range(ROUNDS):
        for key, url, realm, name in measures:
            result = await ledger.service_transfers(url, wallets[key], total, realm,
                                                    f"{name} (round {round_number + 1})",
                                                    f"{key}-{stage}-{round_number}")
            print(result.line(), flush=True)
            if key not in best or result.rate > best[key].rate:
                best[key] = result
    return best


async def run(ctx: BenchContext) -> None:
    total = ctx.scale(10_000, 1_000)
    accounts = ctx.scale(ACCOUNTS_FULL, ACCOUNTS_QUICK)
    postings = ctx.scale(POSTINGS_FULL, POSTINGS_QUICK)
    steps = [(accounts // 10, postings // 10), (accounts - accounts // 10, postings - postings // 10)]
    print(f"{ledger.CONCURRENCY} concurrent tasks, transfers between {ledger.WALLETS} random wallets per realm")
    with fresh_database() as empty_url:
        measures = [  # (key, database, realm, name)
            ("scale.empty", empty_url, EMPTY_REALM, "transfers, empty database"),
            ("scale.other_realm", ctx.database_url, EMPTY_REALM, "transfers, another realm loaded"),
            ("scale.same_realm", ctx.database_url, LOADED_REALM, "transfers, in the loaded realm")]
        wallets = {key: (await ledger.ledger_setup(url, realm))[0] for key, url, realm, _ in measures}
        for stage, (stage_accounts, stage_postings) in enumerate(steps[:STAGES]):
            load(ctx.database_url, stage_accounts, stage_postings)
            size, per_posting = book_size(ctx.database_url)
            label = f"{size:,} postings"
            print(f"-- the book at {label}: {per_posting:.0f} bytes per posting (table and indexes)", flush=True)
            best = await transfer_rounds(measures, wallets, total, str(stage))
            for key, _, _, name in measures:
                best[key].name = f"{name}, best of {ROUNDS}, {label}"
                ctx.report(f"{key}.{stage}", best[key])
            ctx.ratio(f"another realm loaded / empty database, {label}", f"scale.other_realm.{stage}",
                      f"scale.empty.{stage}", target=0.9)
            ctx.ratio(f"in the loaded realm / empty database, {label}", f"scale.same_realm.{stage}",
                      f"scale.empty.{stage}", target=0.9)
            history = ctx.report(f"scale.history.{stage}", await history_reads(ctx.database_url, ctx, label))
            p99 = history.quantile_ms(0.99)
            print(f"history p99 at {label}: {p99:.1f} ms (target < 20 ms: {'met' if p99 and p99 < 20 else 'NOT met'})",
                  flush=True)
            audited = ctx.report(f"scale.audit.{stage}", await full_audit(ctx.database_url, label))
            print(f"full audit at {label}: {audited.seconds:.0f} s "
                  f"(target for 10,000,000 postings < 300 s)", flush=True)
