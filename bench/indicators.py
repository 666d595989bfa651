"""`GET /v1/reports/indicators` reads only rollup rows (kept by triggers in the writing
transactions) and, for the budget burn-down, one index probe per month and asset on the
budget account's postings: its time depends on stations x months, not on postings.

(a) the real path, smaller: residents registered and awarded through the services (the
    triggers fill the rollups), then the report timed at each level;
(b) the issue's size: a realm of 1,000,000 residents at 1,000 stations (1,000 each), whose
    rollups for 24 months (every metric) are generated in SQL as the triggers would have
    written them (generating 10,000,000 postings through the posting protocol takes far
    too long on this shared 2-core machine), then the report timed at each level for 12
    months. The oracle test (tests/integration/test_indicators.py) shows the triggers
    write what a direct computation gives."""
from __future__ import annotations

import statistics
import time
from datetime import datetime, timedelta, timezone

import psycopg

from api.app import build_services
from api.settings import Settings
from bench.harness import BenchContext, Result
from earning import model as earning_model
from insight import model
from insight.service import Indicators
from ledger import db
from ledger.service import Ledger

SMALL_REALM = "430197"
LARGE_REALM = "430196"
REPEATS = 7
LARGE_STATIONS = 1_000
LARGE_RESIDENTS_PER_STATION = 1_000
LARGE_MONTHS = 24
ACTIVITY_TYPES = ("talk", "volunteering", "training", "other")

GENERATE_LARGE = """
INSERT INTO towns (realm, name) SELECT %(realm)s, '镇' || t FROM generate_series(1, 50) t;
INSERT INTO stations (realm, town_id, name, setting)
SELECT %(realm)s, tw.id, '站' || s, CASE WHEN s %% 3 = 0 THEN 'urban' ELSE 'rural' END
  FROM generate_series(1, %(stations)s) s
  JOIN towns tw ON tw.realm = %(realm)s AND tw.name = '镇' || (1 + s %% 50);
INSERT INTO indicator_rollup (realm, month, station_id, source, registered)
SELECT st.realm, (date_trunc('month', now()) - make_interval(months => %(months)s - 1))::date, st.id, 'residents',
       %(per_station)s
  FROM stations st WHERE st.realm = %(realm)s;
INSERT INTO indicator_rollup (realm, month, station_id, source, active, awards, minutes, volunteer_minutes,
                              earned_civic, earned_agri)
SELECT st.realm, (date_trunc('month', now()) - make_interval(months => k))::date, st.id, 'awards',
       300 + (st.id + k) %% 400, 900 + st.id %% 300, 60000 + st.id %% 9000, 20000 + st.id %% 5000,
       20000 + st.id %% 3000, 4000 + st.id %% 700
  FROM stations st CROSS JOIN generate_series(0, %(months)s - 1) k WHERE st.realm = %(realm)s;
INSERT INTO indicator_rollup (realm, month, station_id, source, spent_general, spent_agri_shop,
                              spent_service_provider)
SELECT st.realm, (date_trunc('month', now()) - make_interval(months => k))::date, st.id, 'redemptions',
       9000 + st.id %% 900, 3000 + st.id %% 500, 500 + st.id %% 100
  FROM stations st CROSS JOIN generate_series(0, %(months)s - 1) k WHERE st.realm = %(realm)s;
INSERT INTO indicator_rollup (realm, month, station_id, source, activities_held)
SELECT st.realm, (date_trunc('month', now()) - make_interval(months => k))::date, st.id, 'activities',
       10 + st.id %% 7
  FROM stations st CROSS JOIN generate_series(0, %(months)s - 1) k WHERE st.realm = %(realm)s;
VACUUM (ANALYZE) indicator_rollup;
VACUUM (ANALYZE) stations;
"""


async def timed_report(indicators: Indicators, realm: str, level: str, months: int, label: str) -> Result:
    today = datetime.now(timezone.utc).date()
    first = model.add_months(today.replace(day=1), 1 - months).strftime("%Y-%m")
    latencies = []
    rows = 0
    for _ in range(REPEATS):
        started = time.perf_counter()
        report = await indicators.report(realm, level, first, None, today)
        latencies.append(time.perf_counter() - started)
        rows = len(report["rows"])
    median = statistics.median(latencies)
    print(f"  {label}: level={level}, {rows} rows, median {median * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms",
          flush=True)
    return Result(f"indicators {label} level={level} ({rows} rows)", REPEATS, sum(latencies), latencies, "reports")


async def small(ctx: BenchContext, residents: int) -> None:
    services = build_services(ctx.database_url, Settings(database_url=ctx.database_url, key_dir=ctx.key_dir))
    try:
        await services.ledger.open_realm(SMALL_REALM, "指标基准")
        for asset in ("civic", "agri"):
            await services.earning.fund_budget(SMALL_REALM, asset, 10**11, "bench", f"ind-{asset}")
        earning = services.earning
        town = await earning.create_town(SMALL_REALM, "指标镇")
        stations = [(await earning.create_station(SMALL_REALM, town["id"], f"站{i}", ("urban", "rural")[i % 2]))["id"]
                    for i in range(10)]
        ids: list[int] = []
        per_station = residents // len(stations)
        for index, station in enumerate(stations):
            ids += await earning.register_residents(SMALL_REALM, station, [f"I{index}x{i:07d}" for i in range(per_station)])
        starts = datetime.now(timezone.utc) - timedelta(hours=5)
        activities = [await earning.create_activity(SMALL_REALM, kind, stations[0], f"指标 {kind}", starts,
                                                    starts + timedelta(hours=4), "bench") for kind in ACTIVITY_TYPES]
        text = "\n".join(["活动编号,居民编号,时长(分钟)"] + [f"{a['id']},{r},{60 + r % 180}"
                                                          for a in activities for r in ids]) + "\n"
        started = time.perf_counter()
        summary = await earning.import_attendance(earning_model.decode_csv(text.encode()), "bench", lambda _: None)
        print(f"  (a) {residents:,} residents, {summary['awarded']:,} awards imported in "
              f"{time.perf_counter() - started:.1f} s (rollups by trigger)", flush=True)
        for level in model.LEVELS:
            ctx.report(f"indicators.small.{level}", await timed_report(services.indicators, SMALL_REALM, level, 12,
                                                                      "(a) real path"))
    finally:
        await services.close()


async def large(ctx: BenchContext) -> None:
    engine = db.app_engine(ctx.database_url, pool_size=4)
    ledger = Ledger(engine)
    try:
        await ledger.open_realm(LARGE_REALM, "百万居民")
        started = time.perf_counter()
        with psycopg.connect(ctx.database_url, autocommit=True) as conn:
            for statement in filter(str.strip, GENERATE_LARGE.split(";")):
                conn.execute(statement, {"realm": LARGE_REALM, "stations": LARGE_STATIONS, "months": LARGE_MONTHS,
                                         "per_station": LARGE_RESIDENTS_PER_STATION})
        print(f"  (b) rollups of {LARGE_STATIONS * LARGE_RESIDENTS_PER_STATION:,} residents at {LARGE_STATIONS:,} "
              f"stations x {LARGE_MONTHS} months generated in {time.perf_counter() - started:.1f} s", flush=True)
        indicators = Indicators(engine)
        for level in model.LEVELS:
            ctx.report(f"indicators.large.{level}", await timed_report(indicators, LARGE_REALM, level, 12,
                                                                      "(b) 1M residents"))
    finally:
        await ledger.close()
        await engine.dispose()


async def run(ctx: BenchContext) -> None:
    await small(ctx, ctx.scale(20_000, 1_000))
    await large(ctx)
