"""Redemptions per second through `POST /v1/redemptions` with 32 concurrent merchants
(p50 and p99; paced by the Python client, as fast as answered by wrk when installed,
as the other HTTP measures are), vouchers issued per second through `POST /v1/vouchers` by 32 residents at
once (by wrk when installed), and offline code verifications per second of the pure codec
on one core.
Targets (issue 4): p99 under 50 ms at 200 redemptions/s; codec >= 5,000 codes/s.
Target (issue 17): voucher issuing >= 1,000/s with 32 residents at once."""
from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from api.app import build_services
from api.auth import create_token
from api.settings import Settings
from bench.harness import (WRK_THREADS, BenchContext, Result, http_load, http_request, served_app, timed,
                           wait_for_outbox, wrk_installed, wrk_load)
from bench.ledger import fund_budget
from ledger import model as ledger_model
from ledger.keys import KeyRing
from redemption import codec, model

MERCHANTS = 32
VOUCHERS_PER_RESIDENT = 20
POINTS_PER_RESIDENT = 10_000
REALM = "439902"
TARGET_RATES = (200, 500)       # paced: issue 4's rate, then issue 17's (p99 < 50 ms at each)
TARGET_P99_MS = 50
TARGET_BURST_RATE = 2000        # redemptions/s, 32 merchants as fast as answered (issue 17)
PACED_SECONDS = 5
BURST_SECONDS = 3               # of wrk load at 32 merchants, each request a fresh voucher
BURST_RATE_MAX = 4000           # redemptions/s the vouchers issued for the burst can feed
ISSUERS = 32                   # residents issuing at once over HTTP
ISSUER_ID_FIRST = 1_000_001    # past the residents `prepare` issues for
ISSUE_OUTSTANDING_MAX = 1000   # the realm's policy while it is measured (the most allowed)
TARGET_ISSUE_RATE = 1000
SETUP_POOL_TIMEOUT_S = 60.0    # the in-process setup waits for a connection rather than shedding


async def prepare(ctx: BenchContext, key_dir: Path,
                  total: int) -> tuple[list[str], list[str], list[int]]:
    """A realm, 32 merchants with tokens, and `total` vouchers issued (group-committed, as
    the app issues them); (codes, tokens, merchant ids)."""
    services = build_services(ctx.database_url, Settings(key_dir=key_dir,
                                                         db_pool_timeout_s=SETUP_POOL_TIMEOUT_S))
    try:
        ledger = services.ledger
        await ledger.open_realm(REALM, "压测县")
        residents = -(-total // VOUCHERS_PER_RESIDENT)
        budget = await fund_budget(ledger, REALM, residents * POINTS_PER_RESIDENT)

        async def resident(resident_id: int) -> list[str]:
            account = await ledger.create_account(REALM, "resident", "civic", resident_id=resident_id)
            await ledger.post(ledger_model.EntryDraft(
                realm=REALM, kind="earn", created_by="bench",
                lines=(ledger_model.Line(budget["id"], -POINTS_PER_RESIDENT),
                       ledger_model.Line(account["id"], POINTS_PER_RESIDENT))))
            codes = []
            for n in range(VOUCHERS_PER_RESIDENT):
                voucher = await services.vouchers.issue(REALM, resident_id, "civic", 10, None, None,
                                                        f"bench-{resident_id}-{n}", "bench")
                codes.append(voucher["code"])
            return codes

        started = time.perf_counter()
        issued = await asyncio.gather(*(resident(r) for r in range(1, residents + 1)))
        ctx.report("redemption.issue", Result(f"vouchers issued in-process (setup, {residents} residents at once)",
                                               residents * VOUCHERS_PER_RESIDENT, time.perf_counter() - started))
        merchants = [await services.merchants.create(REALM, "general", f"商户{i}") for i in range(MERCHANTS)]
        tokens = [await create_token(services.engine, "merchant", REALM, merchant_id=m["id"]) for m in merchants]
        return ([code for codes in issued for code in codes][:total], tokens,
                [merchant["id"] for merchant in merchants])
    finally:
        await services.close()


READS_LUA = """
local reads = {{{reads}}}
local made = 0
function request()
  made = made + 1
  local read = reads[(made + thread_number) % #reads + 1]
  return wrk.format("GET", read[1], {{["Authorization"] = "Bearer " .. read[2]}})
end
"""


async def prepare_issuers(ctx: BenchContext, key_dir: Path, per_resident: int, first_id: int) -> list[str]:
    """`ISSUERS` residents from `first_id`, each with points for `per_resident` one-point
    vouchers and a token; the realm's outstanding limit raised so that none reaches it."""
    services = build_services(ctx.database_url, Settings(key_dir=key_dir, group_commit_writers=0))
    try:
        ledger = services.ledger
        await services.vouchers.set_policy(REALM, 30, ISSUE_OUTSTANDING_MAX)
        budget = await fund_budget(ledger, REALM, ISSUERS * per_resident)
        tokens = []
        for resident_id in range(first_id, first_id + ISSUERS):
            account = await ledger.create_account(REALM, "resident", "civic", resident_id=resident_id)
            await ledger.post(ledger_model.EntryDraft(
                realm=REALM, kind="earn", created_by="bench",
                lines=(ledger_model.Line(budget["id"], -per_resident),
                       ledger_model.Line(account["id"], per_resident))))
            tokens.append(await create_token(services.engine, "resident", REALM, resident_id=resident_id,
                                             check_holder=False))
        return tokens
    finally:
        await services.close()


ISSUE_LUA = """
local tokens = {{{tokens}}}
local body = '{{"asset":"civic","amount":1}}'
local calls = 0
function request()
  calls = calls + 1
  local headers = {{["Authorization"] = "Bearer " .. tokens[(calls + thread_number) % #tokens + 1],
                   ["Content-Type"] = "application/json", ["Idempotency-Key"] = next_key("{prefix}")}}
  return wrk.format("POST", "/v1/vouchers", headers, body)
end
"""


async def issue_benchmark(ctx: BenchContext, total: int) -> None:
    """POST /v1/vouchers by `ISSUERS` residents at once, one point each: by wrk when it is
    installed (for a number of seconds, with 1 and with as many server processes as
    cores), else by the Python client (`total` requests, one process)."""
    warm = min(200, total // 4)
    if not wrk_installed():
        tokens = await prepare_issuers(ctx, ctx.key_dir, -(-(warm + total) // ISSUERS), ISSUER_ID_FIRST)
        body = json.dumps({"asset": "civic", "amount": 1}).encode()

        def request(index: int) -> bytes:
            return http_request("POST", "/v1/vouchers", body, Authorization=f"Bearer {tokens[index % ISSUERS]}",
                                Idempotency_Key=f"bench-issue-{index}")

        with served_app(ctx.database_url, ctx.key_dir) as port:
            await http_load(port, request, warm, ISSUERS)
            result, statuses = await http_load(port, lambda i: request(i + warm), total, ISSUERS)
        result.name = f"POST /v1/vouchers, {ISSUERS} residents at once (statuses {dict(statuses)})"
        result.unit = "vouchers"
        ctx.report("redemption.issue_http", result)
        met = result.rate >= TARGET_ISSUE_RATE and set(statuses) == {201}
    else:
        met = False
        for run, workers in enumerate(sorted({1, os.cpu_count() or 1})):
            tokens = await prepare_issuers(ctx, ctx.key_dir, ISSUE_OUTSTANDING_MAX,
                                           ISSUER_ID_FIRST + run * ISSUERS)
            lua = ",".join(f'"{token}"' for token in tokens)
            with served_app(ctx.database_url, ctx.key_dir, POINTSBANK_WORKERS=str(workers)) as port:
                wrk_load(port, ISSUE_LUA.format(tokens=lua, prefix=f"warm-{workers}"), 2, ISSUERS)
                result, refused = wrk_load(port, ISSUE_LUA.format(tokens=lua, prefix=f"issue-{workers}"),
                                           ctx.scale(10, 3), ISSUERS)
            result.name = (f"POST /v1/vouchers, {ISSUERS} residents at once, {workers} process"
                           f"{'es' if workers > 1 else ''}, by wrk" + (f" ({refused} not 2xx)" if refused else ""))
            result.unit = "vouchers"
            ctx.report(f"redemption.issue_{workers}", result)
            met = met or (result.rate >= TARGET_ISSUE_RATE and not refused)
    print(f"{'target: voucher issuing >= 1,000/s':<58} {'met' if met else 'NOT met'}", flush=True)


REDEEM_LUA = """
local codes = {{{codes}}}
local tokens = {{{tokens}}}
local mine = {{}}
local taken = 0
function init(args)
  for index = thread_number, #codes, {threads} do mine[#mine + 1] = codes[index] end
end
function request()
  taken = taken + 1
  if taken == #mine + 1 then
    print("wrk thread " .. thread_number .. " ran out of vouchers: the rate is a lower bound")
    wrk.thread:stop()
  end
  local body = '{{"code":"' .. mine[math.min(taken, #mine)] .. '","amount":7}}'
  local headers = {{["Authorization"] = "Bearer " .. tokens[taken % #tokens + 1],
                   ["Content-Type"] = "application/json", ["Idempotency-Key"] = next_key("{prefix}")}}
  return wrk.format("POST", "/v1/redemptions", headers, body)
end
"""


def burst_by_wrk(port: int, codes: list[str], tokens: list[str], seconds: int, prefix: str = "burst") -> Result:
    """`MERCHANTS` merchants redeeming as fast as they are answered, each request a voucher
    no other request redeems (the vouchers are split between wrk's threads)."""
    script = REDEEM_LUA.format(codes=",".join(f'"{code}"' for code in codes),
                               tokens=",".join(f'"{token}"' for token in tokens), threads=WRK_THREADS,
                               prefix=prefix)
    result, refused = wrk_load(port, script, seconds, MERCHANTS)
    result.name = (f"POST /v1/redemptions, {MERCHANTS} merchants at once, by wrk"
                   + (f" ({refused} not 2xx)" if refused else ""))
    return result


async def run(ctx: BenchContext) -> None:
    burst = ctx.scale(BURST_SECONDS * BURST_RATE_MAX, 0) if wrk_installed() else 0
    total = ctx.scale(8000, 600) + burst
    key_dir = ctx.key_dir
    codes, tokens, merchant_ids = await prepare(ctx, key_dir, total)

    def request(index: int) -> bytes:
        body = json.dumps({"code": codes[index], "amount": 7}).encode()
        return http_request("POST", "/v1/redemptions", body, Authorization=f"Bearer {tokens[index % MERCHANTS]}",
                            Idempotency_Key=f"bench-{index}")

    def read_merchant(index: int) -> bytes:
        return http_request("GET", f"/v1/merchants/{merchant_ids[index % MERCHANTS]}",
                            Authorization=f"Bearer {tokens[index % MERCHANTS]}")

    reads_lua = READS_LUA.format(reads=",".join(
        f'{{"/v1/merchants/{merchant_id}", "{token}"}}' for merchant_id, token in zip(merchant_ids, tokens)))
    if wrk_installed():
        for workers in sorted({1, os.cpu_count() or 1}):
            with served_app(ctx.database_url, ctx.key_dir, POINTSBANK_WORKERS=str(workers)) as port:
                wrk_load(port, reads_lua, 2, MERCHANTS)   # warm: tokens cached, statements prepared
                reads, refused = wrk_load(port, reads_lua, ctx.scale(10, 3), MERCHANTS)
            reads.name = (f"GET /v1/merchants/{{id}} (auth + one read), {workers} process"
                          f"{'es' if workers > 1 else ''}, by wrk" + (f" ({refused} not 2xx)" if refused else ""))
            reads.unit = "requests"
            ctx.report(f"redemption.reads_{workers}", reads)
        best = max(ctx.results[f"redemption.reads_{w}"].rate for w in {1, os.cpu_count() or 1})
        print(f"{'target: authenticated single reads >= 4,000/s':<58} {'met' if best >= 4000 else 'NOT met'}",
              flush=True)
    with served_app(ctx.database_url, ctx.key_dir) as port:
        warm = min(200, total // 4)
        await http_load(port, request, warm, MERCHANTS)  # warm caches (tokens, accounts, keys)
        wait_for_outbox(ctx.database_url)   # the setup's thousands of events, dispatched first
        baseline, _ = await http_load(port, read_merchant, total, MERCHANTS)
        baseline.name, baseline.unit = "baseline: GET /v1/merchants/{id} (auth + one read)", "requests"
        ctx.report("redemption.baseline", baseline)
        used = warm
        for rate in TARGET_RATES:
            count = min(ctx.scale(rate * PACED_SECONDS, rate), (total - used) // 2)
            paced, statuses = await http_load(port, lambda i, at=used: request(at + i), count, MERCHANTS,
                                              rate=rate)
            used += count
            paced.name, paced.unit = f"POST /v1/redemptions paced at {rate}/s (statuses {dict(statuses)})", \
                "redemptions"
            ctx.report(f"redemption.http_paced_{rate}", paced)
            p99 = paced.quantile_ms(0.99)
            met = paced.rate >= 0.95 * rate and p99 is not None and p99 < TARGET_P99_MS
            print(f"{f'target: p99 < {TARGET_P99_MS} ms at {rate} redemptions/s':<58} "
                  f"{'met' if met else 'NOT met'}", flush=True)
        if burst:
            result = burst_by_wrk(port, codes[used:], tokens, BURST_SECONDS)
        else:
            result, statuses = await http_load(port, lambda i: request(used + i), total - used, MERCHANTS)
            result.name = f"POST /v1/redemptions, {MERCHANTS} merchants at once (statuses {dict(statuses)})"
    result.unit = "redemptions"
    ctx.report("redemption.http", result)
    print(f"{f'target: redemptions at {MERCHANTS} merchants >= {TARGET_BURST_RATE:,}/s':<58} "
          f"{'met' if result.rate >= TARGET_BURST_RATE else 'NOT met'}", flush=True)

    await issue_benchmark(ctx, total)
    await codec_benchmark(ctx, key_dir, codes)


async def codec_benchmark(ctx: BenchContext, key_dir: Path, codes: list[str]) -> None:
    ring = KeyRing(key_dir)
    now = datetime.now(timezone.utc)
    keys = {key.kid: key for key in ring.public_keys("voucher")}
    checks = ctx.scale(20_000, 2_000)

    async def verify(index: int) -> None:
        token = codec.decode(codes[index % len(codes)])
        model.verify(token, keys.get(token.key_id), now)
        model.check_not_expired(token, now)

    result = await timed("offline verification (decode + Ed25519 + expiry), one core", checks, 1, verify,
                         unit="codes")
    ctx.report("redemption.codec", result)
    print(f"{'target: codec >= 5,000 codes/s':<58} {'met' if result.rate >= 5000 else 'NOT met'}", flush=True)
