"""Issue 2's benchmark: transfers per second, three ways, on the same PostgreSQL.

(a) the raw ceiling: a bare SQL transfer (two balance updates in id order, one entry, two
    postings, one transaction each, pipelined into one round trip) on 32 connections, on
    plain tables with no triggers; measured twice: from Python (psycopg) and by pgbench,
    PostgreSQL's own load tool, with the same statements (the ceiling no client beats);
(b) the ledger service (`Ledger.post`, group commit on) from 32 concurrent tasks;
(c) HTTP `POST /v1/entries` from 32 keep-alive clients against `pointsbank serve`, with
    one process and with one per core (`serve --workers`).
Ratios b/a and c/a are printed; the targets: c/a >= 0.5 against the Python baseline, and
HTTP >= 0.75 of the pgbench ceiling (issue 17).
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import re
import subprocess
import tempfile

import psycopg

from api.auth import create_token
from bench.harness import (BenchContext, Result, http_load, http_request, served_app, timed, wrk_installed,
                           wrk_load)
from ledger import db, model
from ledger.group_commit import GroupCommit
from ledger.service import Ledger

CONCURRENCY = 32
WRK_SECONDS = 10     # of load per HTTP measure when wrk drives it
WRK_WARM_S = 2
WALLETS = 1000
WALLET_POINTS = 10**9
REALM = "430199"

RAW_SCHEMA = """
DROP TABLE IF EXISTS bench_postings, bench_entries, bench_accounts;
CREATE TABLE bench_accounts (id bigint PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0));
CREATE TABLE bench_entries (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE bench_postings (entry_id bigint NOT NULL REFERENCES bench_entries, account_id bigint NOT NULL
    REFERENCES bench_accounts, amount bigint NOT NULL, balance_after bigint NOT NULL,
    PRIMARY KEY (entry_id, account_id));
"""


async def run(ctx: BenchContext) -> None:
    raw_total = ctx.scale(20_000, 600)
    total = ctx.scale(10_000, 400)
    print(f"{CONCURRENCY} concurrent clients, transfers between {WALLETS} random wallets")
    ctx.report("ledger.raw", await raw_sql(ctx.database_url, raw_total))
    ctx.report("ledger.pgbench", raw_pgbench(ctx.database_url, ctx.scale(15, 3)))
    wallets, admin_token = await ledger_setup(ctx.database_url)
    ctx.report("ledger.service", await service_transfers(ctx.database_url, wallets, total))
    ctx.report("ledger.http", await http_transfers(ctx, wallets, admin_token, total, workers=1))
    cores = os.cpu_count() or 1
    ctx.report("ledger.http_workers", await http_transfers(ctx, wallets, admin_token, total, workers=cores))
    ctx.ratio("ratio b/a (service / raw SQL)", "ledger.service", "ledger.raw")
    ctx.ratio("ratio c/a (HTTP / raw SQL)", "ledger.http", "ledger.raw", target=0.5)
    ctx.ratio("ratio pgbench / raw SQL from Python", "ledger.pgbench", "ledger.raw")
    ctx.ratio("ratio HTTP, 1 process / pgbench ceiling", "ledger.http", "ledger.pgbench")
    ctx.ratio(f"ratio HTTP, {cores} workers / pgbench ceiling", "ledger.http_workers", "ledger.pgbench",
              target=0.75)


def pairs(seed: int, wallets: list[int]):
    rng = random.Random(seed)
    while True:
        source, target = rng.sample(wallets, 2)
        yield source, target, rng.randint(1, 100)


async def raw_sql(database_url: str, total: int) -> Result:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(RAW_SCHEMA)
        conn.execute("INSERT INTO bench_accounts SELECT g, %s FROM generate_series(1, %s) g",
                     (WALLET_POINTS, WALLETS))
    connections = [await psycopg.AsyncConnection.connect(database_url) for _ in range(CONCURRENCY)]
    free = asyncio.Queue()
    for conn in connections:
        free.put_nowait(conn)
    moves = pairs(1, list(range(1, WALLETS + 1)))

    async def transfer(_: int) -> None:
        source, target, amount = next(moves)
        conn = await free.get()
        try:
            async with conn.transaction(), conn.pipeline():
                for account, delta in sorted(((source, -amount), (target, amount))):
                    await conn.execute("UPDATE bench_accounts SET balance = balance + %s WHERE id = %s",
                                       (delta, account))
                await conn.execute("INSERT INTO bench_entries DEFAULT VALUES")
                await conn.execute(
                    "INSERT INTO bench_postings SELECT currval('bench_entries_id_seq'), a.id,"
                    " CASE a.id WHEN %s THEN -%s::bigint ELSE %s::bigint END, a.balance"
                    " FROM bench_accounts a WHERE a.id IN (%s, %s)",
                    (source, amount, amount, source, target))
        finally:
            free.put_nowait(conn)

    try:
        return await timed("(a) raw SQL transfer, one transaction each", total, CONCURRENCY,
                           transfer, "transfers")
    finally:
        for conn in connections:
            await conn.close()


PGBENCH_TRANSFER = """
\\set a random(1, {wallets})
\\set b 1 + (:a + random(0, {wallets} - 2)) % {wallets}
\\set amount random(1, 100)
BEGIN;
UPDATE bench_accounts SET balance = balance + CASE WHEN id = :a::bigint THEN -:amount::bigint ELSE :amount::bigint END WHERE id = least(:a::bigint, :b::bigint);
UPDATE bench_accounts SET balance = balance + CASE WHEN id = :a::bigint THEN -:amount::bigint ELSE :amount::bigint END WHERE id = greatest(:a::bigint, :b::bigint);
INSERT INTO bench_entries DEFAULT VALUES;
INSERT INTO bench_postings SELECT currval('bench_entries_id_seq'), id, CASE WHEN id = :a::bigint THEN -:amount::bigint ELSE :amount::bigint END, balance FROM bench_accounts WHERE id IN (:a::bigint, :b::bigint);
END;
"""


def raw_pgbench(database_url: str, seconds: int) -> Result:
    """The same transfer as `raw_sql`, driven by pgbench (prepared statements, 32 clients)
    on the tables `raw_sql` left: the database's ceiling with no Python in the way."""
    from api.backup import tool_candidates

    found = tool_candidates("pgbench")
    if not found:
        print("   pgbench not found (it ships with PostgreSQL and with pgserver): no ceiling measured")
        return Result("(a') raw SQL transfer by pgbench", 0, 0.0, unit="transfers")
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write(PGBENCH_TRANSFER.format(wallets=WALLETS))
        script.flush()
        answer = subprocess.run(
            [str(found[0]), "-n", "-M", "prepared", "-c", str(CONCURRENCY), "-j", str(os.cpu_count() or 1),
             "-T", str(seconds), "-f", script.name, database_url],
            capture_output=True, text=True, timeout=seconds + 120)
    done = re.search(r"number of transactions actually processed: (\d+)", answer.stdout)
    if answer.returncode != 0 or done is None:
        print(f"   pgbench failed: {(answer.stderr or answer.stdout).strip()[:300]}")
        return Result("(a') raw SQL transfer by pgbench", 0, 0.0, unit="transfers")
    return Result("(a') raw SQL transfer by pgbench, prepared", int(done.group(1)), float(seconds),
                  unit="transfers")


async def fund_budget(ledger: Ledger, realm: str, points: int) -> dict:
    """The realm's civic budget, funded with `points` (a `fund` entry): every setup's start."""
    funding = await ledger.system_account(realm, "funding", "civic")
    budget = await ledger.system_account(realm, "budget", "civic")
    await ledger.post(model.EntryDraft(realm=realm, kind="fund", created_by="bench",
                                       lines=(model.Line(funding["id"], -points), model.Line(budget["id"], points))))
    return budget


async def ledger_setup(database_url: str, realm: str = REALM) -> tuple[list[int], str]:
    """A realm with WALLETS funded resident accounts; their ids and an admin token."""
    engine = db.app_engine(database_url, pool_size=CONCURRENCY)
    ledger = Ledger(engine, GroupCommit(engine))
    try:
        await ledger.open_realm(realm, "基准测试区")
        budget = await fund_budget(ledger, realm, WALLET_POINTS * WALLETS)
        wallets = [(await ledger.create_account(realm, "resident", "civic", resident_id=i))["id"]
                   for i in range(1, WALLETS + 1)]
        await asyncio.gather(*(ledger.post(model.EntryDraft(
            realm=realm, kind="earn", created_by="bench",
            lines=(model.Line(budget["id"], -WALLET_POINTS), model.Line(wallet, WALLET_POINTS))))
            for wallet in wallets))
        token = await create_token(engine, "admin", realm, label="bench")
        return wallets, token
    finally:
        await ledger.close()
        await engine.dispose()


def transfer_draft(source: int, target: int, amount: int, key: str, realm: str = REALM) -> model.EntryDraft:
    return model.EntryDraft(realm=realm, kind="adjustment", created_by="bench", idempotency_key=key,
                            lines=(model.Line(source, -amount), model.Line(target, amount)))


async def service_transfers(database_url: str, wallets: list[int], total: int, realm: str = REALM,
                            name: str = "(b) ledger service, group commit", key: str = "svc") -> Result:
    engine = db.app_engine(database_url, pool_size=CONCURRENCY)
    ledger = Ledger(engine, GroupCommit(engine))
    moves = pairs(2, wallets)

    async def transfer(index: int) -> None:
        source, target, amount = next(moves)
        await ledger.post(transfer_draft(source, target, amount, f"{key}-{index}", realm))

    try:
        await timed("warm-up", min(200, total), CONCURRENCY, lambda i: transfer(total + i))
        return await timed(name, total, CONCURRENCY, transfer, "transfers")
    finally:
        await ledger.close()
        await engine.dispose()


ENTRIES_LUA = """
local wallets = {{{wallets}}}
local headers = {{["Authorization"] = "Bearer {token}", ["Content-Type"] = "application/json"}}
function request()
  local source = wallets[math.random(#wallets)]
  local target = source
  while target == source do target = wallets[math.random(#wallets)] end
  local amount = math.random(100)
  headers["Idempotency-Key"] = next_key("{prefix}")
  return wrk.format("POST", "/v1/entries", headers, string.format(
    '{{"realm":"{realm}","postings":[{{"account_id":%d,"amount":%d}},{{"account_id":%d,"amount":%d}}]}}',
    source, -amount, target, amount))
end
"""


async def http_transfers(ctx: BenchContext, wallets: list[int], token: str, total: int,
                         workers: int = 1) -> Result:
    """`POST /v1/entries` from 32 keep-alive clients: by wrk when it is installed (for
    `seconds` of load), else by the Python client (`total` requests)."""
    name = f"(c) HTTP POST /v1/entries, group commit, {workers} process{'es' if workers > 1 else ''}"
    if wrk_installed():
        with served_app(ctx.database_url, ctx.key_dir, POINTSBANK_WORKERS=str(workers)) as port:
            def script(prefix: str) -> str:
                return ENTRIES_LUA.format(wallets=",".join(map(str, wallets)), token=token, realm=REALM,
                                          prefix=prefix)
            wrk_load(port, script(f"warm-{workers}"), WRK_WARM_S, CONCURRENCY)
            result, refused = wrk_load(port, script(f"wrk-{workers}"), ctx.scale(WRK_SECONDS, 3), CONCURRENCY)
        if refused:
            print(f"   {refused} answers were not 2xx")
        result.name, result.unit = f"{name}, by wrk", "transfers"
        return result
    moves = pairs(3, wallets)

    def request(index: int) -> bytes:
        source, target, amount = next(moves)
        body = json.dumps({"realm": REALM, "postings": [{"account_id": source, "amount": -amount},
                                                        {"account_id": target, "amount": amount}]})
        return http_request("POST", "/v1/entries", body.encode(), Authorization=f"Bearer {token}",
                            Idempotency_Key=f"http-{index}")

    with served_app(ctx.database_url, ctx.key_dir, POINTSBANK_WORKERS=str(workers)) as port:
        await http_load(port, lambda i: request(workers * 10**6 + total + i), min(200, total), CONCURRENCY)
        result, statuses = await http_load(port, lambda i: request(workers * 10**6 + i), total, CONCURRENCY)
    if set(statuses) != {201}:
        print(f"   unexpected statuses: {dict(statuses)}")
    result.name, result.unit = name, "transfers"
    return result
