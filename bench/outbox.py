"""What the outbox and rollup triggers cost on the hot write paths, measured back to back
on one database: the same work with the insight triggers enabled, disabled, disabled, enabled
(the machine is shared: A B B A cancels a steady drift), and the ratio of the means.

(a) earn entries through the ledger service (group commit, 32 concurrent posts): each
    writes one points.earned event (`notify_entries_earned`, one INSERT per statement);
(b) transfers (adjustment entries): the entries trigger runs and finds nothing to write;
(c) attendance through the CSV import: awards, one event per earn entry, the indicator
    rollup (`insight_awards_rollup`) and the active-resident set.
Deliveries are not in the write path at all (a background job reads the outbox)."""
from __future__ import annotations

import itertools
import time
from datetime import datetime, timedelta, timezone

import psycopg

from api.app import build_services
from api.settings import Settings
from bench.harness import BenchContext, Result, timed
from bench.ledger import CONCURRENCY, ledger_setup, pairs, transfer_draft
from earning import model as earning_model
from ledger import db, model
from ledger.group_commit import GroupCommit
from ledger.service import Ledger

REALM = "430198"
ATTENDANCE_REALM = "430195"   # its own: the ledger realm has wallets without residents
ORDERS = ((True, False), (False, True))
TRIGGERS = (("entries", "notify_entries_earned"), ("awards", "insight_awards_rollup"),
            ("residents", "insight_residents_rollup"), ("redemptions", "insight_redemptions_rollup"),
            ("vouchers", "notify_vouchers_issued"), ("vouchers", "notify_vouchers_closed"))
ACTIVITY_TYPES = ("talk", "volunteering", "training", "other")
_labels = itertools.count()


def set_triggers(database_url: str, enabled: bool) -> None:
    verb = "ENABLE" if enabled else "DISABLE"
    with psycopg.connect(database_url, autocommit=True) as conn:
        for table, trigger in TRIGGERS:
            conn.execute(f"ALTER TABLE {table} {verb} TRIGGER {trigger}")


async def earns(database_url: str, wallets: list[int], total: int, label: str) -> Result:
    engine = db.app_engine(database_url, pool_size=CONCURRENCY)
    ledger = Ledger(engine, GroupCommit(engine))
    budget = await ledger.system_account(REALM, "budget", "civic")
    targets = itertools.cycle(wallets)

    async def earn(index: int) -> None:
        await ledger.post(model.EntryDraft(REALM, "earn", (model.Line(budget["id"], -1),
                                                           model.Line(next(targets), 1)), "bench"))
    try:
        return await timed(f"earn entries, {label}", total, CONCURRENCY, earn, "entries")
    finally:
        await ledger.close()
        await engine.dispose()


async def transfers(database_url: str, wallets: list[int], total: int, label: str) -> Result:
    engine = db.app_engine(database_url, pool_size=CONCURRENCY)
    ledger = Ledger(engine, GroupCommit(engine))
    moves = pairs(next(_labels), wallets)
    key = f"outbox-{next(_labels)}"

    async def transfer(index: int) -> None:
        source, target, amount = next(moves)
        await ledger.post(transfer_draft(source, target, amount, f"{key}-{index}", REALM))
    try:
        return await timed(f"transfers, {label}", total, CONCURRENCY, transfer, "transfers")
    finally:
        await ledger.close()
        await engine.dispose()


async def attendance(ctx: BenchContext, residents: int, label: str) -> Result:
    services = build_services(ctx.database_url, Settings(database_url=ctx.database_url, key_dir=ctx.key_dir))
    try:
        earning = services.earning
        tag = next(_labels)
        town = await earning.create_town(ATTENDANCE_REALM, f"outbox town {tag}")
        station = await earning.create_station(ATTENDANCE_REALM, town["id"], "outbox station", "rural")
        ids = await earning.register_residents(ATTENDANCE_REALM, station["id"], [f"O{tag}x{i:07d}" for i in range(residents)])
        starts = datetime.now(timezone.utc) - timedelta(hours=5)
        activities = [await earning.create_activity(ATTENDANCE_REALM, kind, station["id"], f"outbox {kind}", starts,
                                                    starts + timedelta(hours=4), "bench") for kind in ACTIVITY_TYPES]
        text = "\n".join(["活动编号,居民编号,时长(分钟)"] + [f"{a['id']},{r},{60 + r % 180}"
                                                          for a in activities for r in ids]) + "\n"
        started = time.perf_counter()
        summary = await earning.import_attendance(earning_model.decode_csv(text.encode()), "bench", lambda _: None)
        seconds = time.perf_counter() - started
        return Result(f"attendance via CSV import, {label}", summary["awarded"], seconds, [], "records")
    finally:
        await services.close()


def mean_rate(results: list[Result]) -> float:
    return sum(r.rate for r in results) / len(results)


async def run(ctx: BenchContext) -> None:
    total = ctx.scale(4_000, 400)
    residents = ctx.scale(2_000, 200)
    wallets, _ = await ledger_setup(ctx.database_url, REALM)
    services = build_services(ctx.database_url, Settings(database_url=ctx.database_url, key_dir=ctx.key_dir))
    try:
        await services.earning.fund_budget(REALM, "civic", 10**11, "bench", "outbox-earn")
        await services.ledger.open_realm(ATTENDANCE_REALM, "outbox attendance")
        for asset in ("civic", "agri"):
            await services.earning.fund_budget(ATTENDANCE_REALM, asset, 10**11, "bench", f"outbox-{asset}")
    finally:
        await services.close()
    measured: dict[tuple[str, bool], list[Result]] = {}
    try:
        for order in ORDERS:                      # A B B A: a steady drift cancels out
            for enabled in order:
                set_triggers(ctx.database_url, enabled)
                label = "triggers on" if enabled else "triggers off"
                for name, work in (("earn", lambda: earns(ctx.database_url, wallets, total, label)),
                                   ("transfer", lambda: transfers(ctx.database_url, wallets, total, label)),
                                   ("attendance", lambda: attendance(ctx, residents, label))):
                    measured.setdefault((name, enabled), []).append(ctx.report(f"outbox.{name}.{enabled}", await work()))
    finally:
        set_triggers(ctx.database_url, True)
    for name in ("earn", "transfer", "attendance"):
        on, off = mean_rate(measured[(name, True)]), mean_rate(measured[(name, False)])
        print(f"{name + ' with / without the insight triggers':<58} {on / off:10.2f}  ({on:,.0f}/s vs {off:,.0f}/s)",
              flush=True)

