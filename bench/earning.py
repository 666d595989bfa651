"""Attendance records credited per second: through `POST /v1/activities/{id}/attendance`
with 1,000-record requests, and through the CSV import; beside the ledger's raw ceiling
(`ledger.raw`, when the ledger benchmark ran first)."""
from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from api.app import Services, build_services
from api.auth import create_token
from api.settings import Settings
from bench.harness import BenchContext, Result, http_load, http_request, served_app
from earning import model

BENCH_REALM = "439901"
RECORDS_PER_REQUEST = model.RECORDS_PER_REQUEST_MAX
HTTP_CONCURRENCY = 4
# Each resident attends one activity of each of these types (caps are per type and day).
ACTIVITY_TYPES = ("talk", "volunteering", "training", "other")
BUDGET_POINTS = 10**11


async def prepare(services: Services, residents: int, label: str) -> tuple[list[int], list[dict[str, Any]]]:
    """A station with `residents` residents and one past activity per type."""
    earning = services.earning
    town = await earning.create_town(BENCH_REALM, f"bench town {label}")
    station = await earning.create_station(BENCH_REALM, town["id"], "bench station", "urban")
    ids: list[int] = []
    for start in range(0, residents, 10_000):
        codes = [f"B{label}{i:08d}" for i in range(start, min(start + 10_000, residents))]
        ids += await earning.register_residents(BENCH_REALM, station["id"], codes)
    starts = datetime.now(timezone.utc) - timedelta(hours=5)
    activities = [await earning.create_activity(BENCH_REALM, kind, station["id"], f"bench {kind}",
                                                starts, starts + timedelta(hours=4), "bench")
                  for kind in ACTIVITY_TYPES]
    return ids, activities


async def bench_http(ctx: BenchContext, services: Services, residents: int) -> Result:
    ids, activities = await prepare(services, residents, "h")
    token = await create_token(services.engine, "admin", BENCH_REALM, label="bench")
    per_activity = len(ids) // RECORDS_PER_REQUEST
    total = per_activity * len(activities)

    def request(index: int) -> bytes:
        activity = activities[index // per_activity]
        start = (index % per_activity) * RECORDS_PER_REQUEST
        body = json.dumps({"records": [{"resident_id": r, "minutes": 60 + r % 180}
                                       for r in ids[start:start + RECORDS_PER_REQUEST]]}).encode()
        return http_request("POST", f"/v1/activities/{activity['id']}/attendance", body,
                            Authorization=f"Bearer {token}", Idempotency_Key=f"bench-{index}")

    with served_app(ctx.database_url, ctx.key_dir) as port:
        bodies = [request(i) for i in range(total)]  # built before timing
        warm = HTTP_CONCURRENCY  # the first requests warm the server's connections, not timed
        await http_load(port, lambda i: bodies[i], warm, HTTP_CONCURRENCY)
        result, statuses = await http_load(port, lambda i: bodies[warm + i], total - warm, HTTP_CONCURRENCY)
    if set(statuses) != {200}:
        print(f"  unexpected statuses: {dict(statuses)}", file=sys.stderr)
    return Result(f"attendance via HTTP ({RECORDS_PER_REQUEST}-record requests)",
                  (total - warm) * RECORDS_PER_REQUEST, result.seconds, result.latencies_s, "records")


async def bench_csv(services: Services, residents: int) -> Result:
    ids, activities = await prepare(services, residents, "c")
    lines = ["活动编号,居民编号,时长(分钟)"]
    lines += [f"{a['id']},{r},{60 + r % 180}" for a in activities for r in ids]
    summary: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "attendance.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        started = time.perf_counter()
        text = model.decode_csv(path.read_bytes())
        summary = await services.earning.import_attendance(text, "bench", lambda results: None)
        seconds = time.perf_counter() - started
    if summary["awarded"] != len(lines) - 1:
        print(f"  import summary: {summary}", file=sys.stderr)
    return Result(f"attendance via CSV import ({model.CSV_CHUNK_ROWS}-row chunks)",
                  summary["rows"], seconds, [], "records")


async def run(ctx: BenchContext) -> None:
    services = build_services(ctx.database_url, Settings(database_url=ctx.database_url, key_dir=ctx.key_dir))
    try:
        await services.ledger.open_realm(BENCH_REALM, "bench realm")
        for asset in ("civic", "agri"):
            await services.earning.fund_budget(BENCH_REALM, asset, BUDGET_POINTS, "bench", f"bench-{asset}")
        residents = ctx.scale(10_000, 2_000)
        ctx.report("earning.http", await bench_http(ctx, services, residents))
        ctx.report("earning.csv", await bench_csv(services, residents))
    finally:
        await services.close()
    ctx.ratio("earning via HTTP / ledger raw ceiling", "earning.http", "ledger.raw")
    ctx.ratio("earning via CSV / ledger raw ceiling", "earning.csv", "ledger.raw")
