"""Issue 20's benchmark: does the cost of a write grow with the book?

Transfers per second through the ledger service (group commit, 32 concurrent tasks) on
an empty database, and on a database where one realm has been loaded in bulk with
1,000,000 resident accounts and 10,000,000 postings (`bench.book`, then `VACUUM
(ANALYZE)` and a CHECKPOINT): in another realm of it, and in the loaded realm itself.
Both databases are on the same server, and the three measures take turns, round after
round, so a change in the machine's load (it is shared) hits them alike; each figure is
the best of its rounds. The ratios to the empty database are printed; the issue's
target is >= 0.9 for both.
"""
from __future__ import annotations

import time

import psycopg

from bench import book, ledger
from bench.harness import BenchContext, Result, fresh_database

EMPTY_REALM = "439961"    # in the empty database, and in the loaded one beside the loaded realm
LOADED_REALM = "439962"   # loaded in bulk, and written to after the load
ACCOUNTS_FULL, POSTINGS_FULL = 1_000_000, 10_000_000
ACCOUNTS_QUICK, POSTINGS_QUICK = 20_000, 200_000
ROUNDS = 3


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


async def run(ctx: BenchContext) -> None:
    total = ctx.scale(10_000, 1_000)
    print(f"{ledger.CONCURRENCY} concurrent tasks, transfers between {ledger.WALLETS} random wallets per realm")
    with fresh_database() as empty_url:
        measures = [  # (key, database, realm, name)
            ("scale.empty", empty_url, EMPTY_REALM, "transfers, empty database"),
            ("scale.other_realm", ctx.database_url, EMPTY_REALM, "transfers, another realm loaded"),
            ("scale.same_realm", ctx.database_url, LOADED_REALM, "transfers, in the loaded realm")]
        wallets = {key: (await ledger.ledger_setup(url, realm))[0] for key, url, realm, _ in measures}
        load(ctx.database_url, ctx.scale(ACCOUNTS_FULL, ACCOUNTS_QUICK), ctx.scale(POSTINGS_FULL, POSTINGS_QUICK))
        best: dict[str, Result] = {}
        for round_number in range(ROUNDS):
            for key, url, realm, name in measures:
                result = await ledger.service_transfers(url, wallets[key], total, realm,
                                                        f"{name} (round {round_number + 1})",
                                                        f"{key}-{round_number}")
                print(result.line(), flush=True)
                if key not in best or result.rate > best[key].rate:
                    best[key] = result
    for key, _, _, name in measures:
        best[key].name = f"{name}, best of {ROUNDS}"
        ctx.report(key, best[key])
    ctx.ratio("another realm loaded / empty database", "scale.other_realm", "scale.empty", target=0.9)
    ctx.ratio("in the loaded realm / empty database", "scale.same_realm", "scale.empty", target=0.9)
