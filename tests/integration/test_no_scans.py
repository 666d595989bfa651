"""No write path reads a whole table that grows with the book.

A realm of 50,000 residents (accounts, resident rows, earn entries and postings, vouchers,
awards, sealed leaves) is loaded in bulk; then every write path runs once against it,
and `pg_stat_user_tables` must show no sequential scan of those tables. Each statement
has to probe by key, whatever the planner believes about a transition table, a JSON
array or a temporary table: on a book that was never analysed, and on one just
analysed (their plans differ).

How the counts are read without waiting on time: every connection the services use
comes from one pool with no overflow; after each path the test checks out all of them
and calls `pg_stat_force_next_flush()` on each, so each backend hands its counts to the
shared statistics before its COMMIT answers (PostgreSQL 15+). The counts are compared
before and after each path, so nothing else needs resetting.
"""
from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.catalogue_redemption import redeem_item
from api.database import throwaway_database
from bench.book import Book, generate_book
from earning.service import Earning
from ledger import db, model
from ledger.checkpoints import Checkpoints
from ledger.group_commit import GroupCommit
from ledger.keys import KeyRing
from ledger.service import Ledger
from feedback.service import Feedback
from merchants.service import Catalogue, Merchants, Settlements
from orders import model as orders_model
from orders.service import Orders
from redemption import model as redemption_model
from redemption.service import Vouchers
from resources import model as resource_model
from resources.service import Booker, Resources
from insight.service import Indicators
from notify.service import Dispatcher

RESIDENTS = 50_000
BOOK_ENTRIES = 50_000
BOOK_VOUCHERS = 50_000
REALM = "439950"
POOL_SIZE = 6
# Tables whose size follows residents or postings; all of them are loaded big here.
GROWING = ("accounts", "residents", "entries", "postings", "vouchers", "awards", "checkpoint_entries", "events")


# PB_EXPLAIN_SCANS=1 prints the plan of every statement that scans one of them.
EXPLAIN_OPTIONS = ("-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0"
                   " -c auto_explain.log_nested_statements=on -c client_min_messages=log")


def scan_engine(database_url: str) -> AsyncEngine:
    """The application's engine, with a pool that never opens a connection beyond
    POOL_SIZE: holding all of them means holding every backend the services used."""
    explain = bool(os.environ.get("PB_EXPLAIN_SCANS"))
    engine = db.app_engine(database_url, POOL_SIZE, pool_overflow=0, options=EXPLAIN_OPTIONS if explain else "")
    if explain:
        event.listen(engine.sync_engine, "connect",
                     lambda connection, _: connection.add_notice_handler(print_scanning_plan))
    return engine


def print_scanning_plan(notice: psycopg.errors.Diagnostic) -> None:
    plan = notice.message_primary or ""
    if any(f"Seq Scan on {table} " in plan for table in GROWING):
        print(plan, flush=True)


async def flush_statistics(engine: AsyncEngine) -> None:
    held = [await engine.connect() for _ in range(POOL_SIZE)]
    try:
        for conn in held:
            await conn.execute(text("SELECT pg_stat_force_next_flush()"))
            await conn.commit()  # idle outside a transaction: the backend flushes before it answers
    finally:
        for conn in held:
            await conn.close()


def sequential_scans(owner: psycopg.Connection) -> dict[str, int]:
    owner.execute("SELECT pg_stat_clear_snapshot()")
    return dict(owner.execute(
        "SELECT relname, seq_scan FROM pg_stat_user_tables WHERE schemaname = 'public' AND relname = ANY(%s)",
        (list(GROWING),)).fetchall())


@pytest.fixture(params=["never-analyzed", "analyzed"])
def book_url(request, server_url: str):
    """A database of its own: its statistics are the test's alone."""
    with throwaway_database(server_url, "pb_scan") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            for table in GROWING:  # no statistics but those the test takes
                conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        yield url, request.param == "analyzed"


class Paths:
    """Every write path, on a bulk-loaded realm; each method runs one path once."""

    def __init__(self, engine: AsyncEngine, keys: KeyRing) -> None:
        self.ledger = Ledger(engine)
        self.grouped = Ledger(engine, GroupCommit(engine, writers=1))
        self.earning = Earning(engine, self.ledger)
        self.vouchers = Vouchers(engine, self.ledger, keys)
        self.grouped_vouchers = Vouchers(engine, self.ledger, keys, capture_writers=1)
        self.merchants = Merchants(engine, self.ledger)
        self.catalogue = Catalogue(engine)
        self.settlements = Settlements(engine, self.ledger, keys)
        self.checkpoints = Checkpoints(engine, keys)
        self.orders = Orders(engine, self.ledger)
        self.feedback = Feedback(engine)
        self.resources = Resources(engine, self.ledger)
        self.dispatcher = Dispatcher(engine)
        self.indicators = Indicators(engine)
        self.engine = engine

    async def close(self) -> None:
        for service in (self.ledger, self.grouped, self.vouchers, self.grouped_vouchers):
            await service.close()

    async def prepare(self, database_url: str, analyze: bool) -> None:
        self.database_url = database_url
        await self.ledger.open_realm(REALM, "扫描测试区")
        town = await self.earning.create_town(REALM, "岳麓街道")
        self.station = (await self.earning.create_station(REALM, town["id"], "桃子湖社区", "urban"))["id"]
        starts = datetime.now(timezone.utc) - timedelta(hours=3)
        old = await self.earning.create_activity(REALM, "volunteering", self.station, "旧活动", starts,
                                                 starts + timedelta(hours=2), "test")
        self.activity = await self.earning.create_activity(REALM, "talk", self.station, "宣讲", starts,
                                                           starts + timedelta(hours=2), "test")
        self.book: Book = generate_book(database_url, REALM, RESIDENTS, BOOK_ENTRIES, station_id=self.station,
                                        vouchers=BOOK_VOUCHERS, activity_id=old["id"])
        while await self.checkpoints.seal(REALM) is not None:  # the book's entries get their leaves
            pass
        with psycopg.connect(database_url, autocommit=True) as conn:  # the book's events, long dispatched
            conn.execute("INSERT INTO events (realm, type, subject_id, dispatched_at) SELECT realm, 'points.earned', "
                         "id, now() FROM entries WHERE realm = %s AND kind = 'earn'", (REALM,))
        made = await self.merchants.create(REALM, "general", "便民超市")
        self.merchant = redemption_model.Merchant(made["id"], REALM, "general", made["status"])
        self.item = await self.catalogue.create_item(made["id"], "毛巾", 3, stock=10)
        await self.settlements.set_rate(REALM, 5)
        self.budget = (await self.ledger.system_account(REALM, "budget", "civic"))["id"]
        await self.prepare_resources(town["id"])
        if analyze:
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
        self.next_resident = 0

    async def prepare_resources(self, town_id: int) -> None:
        """A priced health check with one big slot starting within the marking window."""
        hospital = await self.merchants.create(REALM, "service_provider", "卫生院")
        provider = await self.resources.register_provider(
            REALM, "卫生院", resource_model.Provider(hospital["id"], "service_provider", REALM), "test")
        offered = await self.resources.create_resource(provider, {
            "kind": "health", "title": "体检", "scope": "realm", "station_id": self.station, "priority_price": 3,
            "cancel_cutoff_h": 0}, "test")
        start = datetime.now(timezone.utc) + timedelta(hours=1)
        self.slot = (await self.resources.add_slots(offered, [start], timedelta(hours=1), 1_000, 0))[0]
        self.place = resource_model.Station(REALM, self.station, town_id)

    async def priority_booked(self) -> dict:
        resident = self.residents(1)[0]
        return await self.resources.book(self.slot["id"], Booker(REALM, self.place, resident), True,
                                         f"book-{uuid.uuid4()}", "test")

    async def priority_attended(self) -> None:
        await self.resources.mark((await self.priority_booked())["id"], "attended", "test")

    async def priority_cancelled(self) -> None:
        await self.resources.cancel((await self.priority_booked())["id"], False, "test")

    def residents(self, count: int) -> list[int]:
        """`count` bulk residents no earlier path used (each has 5 points)."""
        first = self.book.first_resident_id + self.next_resident
        self.next_resident += count
        return list(range(first, first + count))

    def account_of(self, resident_id: int) -> int:
        return self.book.first_account_id + resident_id - self.book.first_resident_id

    def earn(self, resident_id: int) -> model.EntryDraft:
        return model.EntryDraft(realm=REALM, kind="earn", created_by="test", lines=(
            model.Line(self.budget, -7), model.Line(self.account_of(resident_id), 7)))

    async def one_entry(self) -> None:
        await self.ledger.post(self.earn(self.residents(1)[0]))

    async def batch_together(self) -> None:
        await asyncio.gather(*(self.grouped.post(self.earn(r)) for r in self.residents(64)))

    async def batch_one_at_a_time(self) -> None:
        """A batch with an overdraft in it goes one entry at a time (and refuses that one)."""
        poor, rich = self.residents(2)
        overdraft = model.EntryDraft(realm=REALM, kind="adjustment", created_by="test", lines=(
            model.Line(self.account_of(poor), -1_000), model.Line(self.account_of(rich), 1_000)))
        outcomes = await asyncio.gather(self.grouped.post(overdraft),
                                        *(self.grouped.post(self.earn(r)) for r in self.residents(8)),
                                        return_exceptions=True)
        assert sum(isinstance(o, Exception) for o in outcomes) == 1, outcomes

    async def attendance(self) -> None:
        records = [(r, 60) for r in self.residents(1_000)]
        outcome = await self.earning.record_attendance(self.activity, records, "test", f"att-{uuid.uuid4()}")
        assert all("error" not in r for r in outcome.results), outcome.results[:3]

    async def register(self) -> None:
        await self.earning.register_residents(REALM, self.station, [f"NEW{n:06d}" for n in range(100)])

    async def issue(self) -> dict:
        return await self.vouchers.issue(REALM, self.residents(1)[0], "civic", 4, self.merchant, None,
                                         f"issue-{uuid.uuid4()}", "test")

    async def issue_grouped(self) -> None:
        await self.grouped_vouchers.issue(REALM, self.residents(1)[0], "civic", 4, self.merchant, None,
                                          f"issue-{uuid.uuid4()}", "test")

    async def capture(self) -> None:
        voucher = await self.issue()
        await self.vouchers.redeem(self.merchant, voucher["code"], 3, f"redeem-{uuid.uuid4()}", "test")

    async def capture_grouped(self) -> None:
        voucher = await self.issue()
        await self.grouped_vouchers.redeem(self.merchant, voucher["code"], None, f"redeem-{uuid.uuid4()}", "test")

    async def capture_together(self) -> None:
        """Concurrent captures batched (voucher_capture_together), one of them partial."""
        ready = [await self.issue() for _ in range(8)]
        await asyncio.gather(*(self.grouped_vouchers.redeem(self.merchant, voucher["code"], 3 if n == 0 else None,
                                                            f"redeem-{uuid.uuid4()}", "test")
                               for n, voucher in enumerate(ready)))

    async def release(self) -> None:
        await self.vouchers.cancel(await self.issue(), "test")

    async def expire(self) -> None:
        voucher = await self.issue()
        with psycopg.connect(self.database_url) as owner:  # back-dated, as in test_catalogue
            owner.execute("SET LOCAL session_replication_role = replica")
            owner.execute("UPDATE vouchers SET expires_at = now() - interval '1 second' "
                          "WHERE realm = %s AND id = %s", (REALM, voucher["id"]))
        assert await self.vouchers.expire_due() == 1

    async def reward_taken_and_returned(self) -> None:
        taken = await redeem_item(self, self.item["id"], REALM, self.residents(1)[0], f"take-{uuid.uuid4()}",
                                  "test")
        await self.vouchers.cancel(taken.voucher, "test")

    async def settle(self) -> None:
        await self.settlements.settle(self.merchant.id, datetime.now(timezone.utc), "test",
                                      f"settle-{uuid.uuid4()}")

    async def seal(self) -> None:
        await self.checkpoints.seal(REALM)

    async def service_loop(self) -> None:
        """A volunteer approved; a request ordered, dispatched, accepted, done, confirmed
        with a rating (the volunteer paid, the requester rewarded, the rating counted)."""
        requester, volunteer = self.residents(2)
        await self.orders.apply(REALM, volunteer, ["助老"], [self.station], None)
        await self.orders.decide(REALM, volunteer, True, "organizer:test")
        starts = datetime.now(timezone.utc)
        new = orders_model.NewRequest(requester, self.station, "助老", "买菜", starts, starts + timedelta(hours=2))
        request_id = (await self.orders.create(REALM, new, orders_model.SYSTEM, f"order-{uuid.uuid4()}")).request["id"]
        for step in (orders_model.Step("dispatch", volunteer_id=volunteer), orders_model.Step("accept"),
                     orders_model.Step("done", minutes=60)):
            await self.orders.take(request_id, step, orders_model.SYSTEM, f"step-{uuid.uuid4()}")

        async def rated(conn, request):
            await self.feedback.rate_request_in(conn, request, orders_model.ALERT_RATINGS_MIN_DEFAULT)

        pay = orders_model.Pay("civic", 22, 100, "volunteering", 1)   # capped by the day's awards, by key
        await self.orders.take(request_id, orders_model.Step("confirm", rating=2), orders_model.SYSTEM,
                               f"step-{uuid.uuid4()}", pay=pay, on_confirmed=rated)

    async def service_jobs(self) -> None:
        await self.orders.time_out_dispatches(0)
        await self.orders.flag_overdue()
        await self.orders.due_confirmations(0)

    async def dispatch(self) -> None:
        await self.dispatcher.dispatch()

    async def notices(self) -> None:
        await self.dispatcher.emit_expiring()
        await self.indicators.emit_budget_low()

    def all(self) -> list[tuple[str, Callable[[], Awaitable[object]]]]:
        return [("one entry (ledger_post_entry)", self.one_entry),
                ("a batch posted together (ledger_post_together)", self.batch_together),
                ("a batch posted one at a time (ledger_post_each)", self.batch_one_at_a_time),
                ("attendance, 1,000 records (earning_award_chunk)", self.attendance),
                ("residents registered", self.register),
                ("voucher issued", self.issue),
                ("voucher issued, group commit (issue_facts, voucher_issue_batch)", self.issue_grouped),
                ("voucher captured (voucher_capture)", self.capture),
                ("voucher captured, group commit (voucher_capture_batch)", self.capture_grouped),
                ("vouchers captured together (voucher_capture_together)", self.capture_together),
                ("voucher released", self.release),
                ("voucher expired", self.expire),
                ("reward taken and its stock returned", self.reward_taken_and_returned),
                ("merchant settled", self.settle),
                ("entries sealed", self.seal),
                ("the service loop, order to confirmation (orders, feedback)", self.service_loop),
                ("the service loop's background jobs", self.service_jobs),
                ("priority reservation booked (hold)", self.priority_booked),
                ("priority reservation attended (capture)", self.priority_attended),
                ("priority reservation cancelled (release)", self.priority_cancelled),

                ("outbox dispatched, one batch (notify)", self.dispatch),
                ("voucher.expiring and budget.low notices", self.notices)]


async def test_no_write_path_scans_a_growing_table(book_url, tmp_path):
    database_url, analyze = book_url
    engine = scan_engine(database_url)
    paths = Paths(engine, KeyRing(tmp_path))
    scanned: dict[str, dict[str, int]] = {}
    try:
        await paths.prepare(database_url, analyze)
        with psycopg.connect(database_url, autocommit=True) as owner:
            for name, run in paths.all():
                await flush_statistics(engine)
                before = sequential_scans(owner)
                await run()
                await flush_statistics(engine)
                after = sequential_scans(owner)
                grown = {table: after[table] - before[table] for table in GROWING
                         if after[table] != before[table]}
                if grown:
                    scanned[name] = grown
    finally:
        await paths.close()
        await engine.dispose()
    assert not scanned, "sequential scans of growing tables, by write path:\n" + "\n".join(
        f"  {name}: {tables}" for name, tables in scanned.items())
