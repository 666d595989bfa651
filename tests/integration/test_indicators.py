"""Indicators on generated realms equal a direct computation from the book (hypothesis):
awards (hours, volunteering, points by asset, active residents), registrations,
redemptions by merchant kind, ratings of activities and of service requests, and service
requests opened, completed and their time to complete, per station, town, urban/rural
and realm, per month. The rollups the report reads are kept by triggers; the oracle
reads the base tables."""
from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from earning.service import Earning
from feedback.service import Feedback
from insight import model
from insight.service import Indicators
from ledger import db, errors
from ledger.service import Ledger
from merchants.service import Merchants
from orders import model as orders_model
from orders.service import Orders
from redemption import model as redemption_model
from redemption.service import Vouchers
from tests.conftest import new_realm_code

TZ = ZoneInfo("Asia/Shanghai")
MONTHS_BACK = 3
_keys = itertools.count()

scenarios = st.fixed_dictionaries({
    "stations": st.lists(st.sampled_from(["urban", "rural"]), min_size=1, max_size=3),
    "residents": st.lists(st.integers(0, 2), min_size=1, max_size=5),
    "awards": st.lists(st.tuples(st.integers(0, 4), st.sampled_from(["volunteering", "talk"]),
                                 st.integers(1, 240), st.integers(0, MONTHS_BACK)), max_size=8),
    "spends": st.lists(st.tuples(st.integers(0, 4), st.sampled_from(["general", "agri_shop"]),
                                 st.integers(1, 30)), max_size=3),
    "ratings": st.lists(st.tuples(st.integers(0, 7), st.integers(1, 5)), max_size=4),   # (award, stars)
    # (requester, how far it goes, stars when confirmed)
    "requests": st.lists(st.tuples(st.integers(0, 4), st.sampled_from(["open", "done", "confirmed"]),
                                   st.integers(1, 5)), max_size=3),
})
PAY = orders_model.Pay("civic", 10, 100, "volunteering", 1)
SKILL = "助老"


class World:
    """Services on their own event loop (hypothesis runs the examples synchronously)."""

    def __init__(self, database_url: str, keys) -> None:
        self.loop = asyncio.new_event_loop()
        self.engine = db.app_engine(database_url, pool_size=5)
        self.ledger = Ledger(self.engine)
        self.earning = Earning(self.engine, self.ledger)
        self.vouchers = Vouchers(self.engine, self.ledger, keys)
        self.merchants = Merchants(self.engine, self.ledger)
        self.orders = Orders(self.engine, self.ledger)
        self.feedback = Feedback(self.engine)
        self.indicators = Indicators(self.engine)

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def close(self) -> None:
        self.run(self.vouchers.close())
        self.run(self.ledger.close())
        self.run(self.engine.dispose())
        self.loop.close()


@pytest.fixture(scope="module")
def world(database_url, keys):
    made = World(database_url, keys)
    yield made
    made.close()


async def build(world: World, scenario: dict) -> tuple[str, list[int]]:
    realm = new_realm_code()
    await world.ledger.open_realm(realm, "生成区")
    towns = [await world.earning.create_town(realm, f"镇{i}") for i in range(2)]
    stations = [(await world.earning.create_station(realm, towns[i % 2]["id"], f"站{i}", setting))["id"]
                for i, setting in enumerate(scenario["stations"])]
    residents = [(await world.earning.register_resident(
        realm, stations[i % len(stations)], f"G{realm}{n:03d}"))["id"] for n, i in enumerate(scenario["residents"])]
    for asset in ("civic", "agri"):
        await world.earning.fund_budget(realm, asset, 1_000_000, "test", f"fund-{realm}-{asset}")
    now = datetime.now(timezone.utc)
    attended = []
    for index, kind, minutes, months_ago in scenario["awards"]:
        starts = now - timedelta(days=31 * months_ago, hours=5)
        activity = await world.earning.create_activity(realm, kind, stations[index % len(stations)], "活动", starts,
                                                       starts + timedelta(hours=4), "test")
        await world.earning.record_attendance(activity, [(residents[index % len(residents)], minutes)], "test",
                                              f"att-{next(_keys)}")
        attended.append((activity, residents[index % len(residents)]))
    for index, stars in scenario["ratings"]:
        if attended:
            activity, rater = attended[index % len(attended)]
            try:
                await world.feedback.rate_activity(activity, rater, True, stars, None, 3)
            except errors.DomainError:
                pass      # rated already: counted once
    await requests(world, realm, stations, residents, scenario["requests"])
    shops = {}
    for index, kind, amount in scenario["spends"]:
        if kind not in shops:
            made = await world.merchants.create(realm, kind, f"商家{kind}")
            shops[kind] = redemption_model.Merchant(made["id"], realm, kind, made["status"])
        try:
            voucher = await world.vouchers.issue(realm, residents[index % len(residents)], "civic", amount, None,
                                                 kind, f"v-{next(_keys)}", "test")
            await world.vouchers.redeem(shops[kind], voucher["code"], None, f"r-{next(_keys)}", "test")
        except errors.DomainError:
            pass          # not enough points: nothing spent, nothing counted
    return realm, stations


async def requests(world: World, realm: str, stations: list[int], residents: list[int], plan: list) -> None:
    """Service requests taken as far as the plan says, served by one volunteer."""
    if not plan:
        return
    volunteer = (await world.earning.register_resident(realm, stations[0], f"V{realm}"))["id"]
    await world.orders.apply(realm, volunteer, [SKILL], stations, None)
    await world.orders.decide(realm, volunteer, True, "organizer:test")
    for index, reach, stars in plan:
        requester = residents[index % len(residents)]
        station = stations[(index % len(residents)) % len(stations)]
        starts = datetime.now(timezone.utc) + timedelta(hours=1)
        made = await world.orders.create(realm, orders_model.NewRequest(requester, station, SKILL, "帮忙", starts,
                                                                        starts + timedelta(hours=3), None),
                                         orders_model.Actor("resident", realm, "r:test", requester),
                                         f"rq-{next(_keys)}")
        if reach == "open":
            continue
        request_id = made.request["id"]
        served = orders_model.Actor("resident", realm, "v:test", volunteer)
        await world.orders.take(request_id, orders_model.Step("dispatch", volunteer_id=volunteer),
                                orders_model.Actor("organizer", realm, "o:test"), None)
        await world.orders.take(request_id, orders_model.Step("accept"), served, None)
        await world.orders.take(request_id, orders_model.Step("done", minutes=60), served, None)
        if reach == "confirmed":
            async def rate(conn, confirmed):
                await world.feedback.rate_request_in(conn, confirmed, 3)
            await world.orders.take(request_id, orders_model.Step("confirm", rating=stars),
                                    orders_model.Actor("resident", realm, "r:test", requester), None, pay=PAY,
                                    on_confirmed=rate)


def month_of(moment: datetime | date) -> date:
    day = moment.astimezone(TZ).date() if isinstance(moment, datetime) else moment
    return day.replace(day=1)


async def oracle(world: World, realm: str) -> dict[tuple[str, date], dict[str, float]]:
    """Per (station, month), straight from awards, residents and redemptions."""
    async with world.engine.connect() as conn:
        residents = {r.id: (str(r.station_id), r.created_at) for r in await conn.execute(text(
            "SELECT id, station_id, created_at FROM residents WHERE realm = :realm"), {"realm": realm})}
        awards = (await conn.execute(text(
            "SELECT resident_id, activity_type, minutes, points, asset, award_day FROM awards WHERE realm = :realm"),
            {"realm": realm})).all()
        spends = (await conn.execute(text(
            "SELECT v.resident_id, m.kind, d.amount, d.created_at FROM redemptions d "
            "JOIN vouchers v ON v.realm = d.realm AND v.id = d.voucher_id "
            "JOIN merchants m ON m.realm = d.merchant_realm AND m.id = d.merchant_id WHERE d.realm = :realm"),
            {"realm": realm})).all()
        ratings = (await conn.execute(text(
            "SELECT g.subject_kind, coalesce(a.station_id, q.station_id) AS station_id, g.rating, g.created_at "
            "FROM ratings g LEFT JOIN activities a ON g.subject_kind = 'activity' AND a.realm = g.realm "
            "AND a.id = g.subject_id LEFT JOIN service_requests q ON g.subject_kind = 'service_request' "
            "AND q.realm = g.realm AND q.id = g.subject_id WHERE g.realm = :realm"), {"realm": realm})).all()
        requested = (await conn.execute(text(
            "SELECT station_id, created_at, confirmed_at FROM service_requests WHERE realm = :realm"),
            {"realm": realm})).all()
    figures: dict[tuple[str, date], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    active: dict[tuple[str, date], set[int]] = defaultdict(set)
    for station, created in residents.values():
        figures[(station, month_of(created))]["registered"] += 1
    for a in awards:
        key = (residents[a.resident_id][0], month_of(a.award_day))
        figures[key]["minutes"] += a.minutes
        figures[key]["volunteer_minutes"] += a.minutes if a.activity_type == "volunteering" else 0
        figures[key][f"earned_{a.asset}"] += a.points
        active[key].add(a.resident_id)
    for key, who in active.items():
        figures[key]["active"] = len(who)
    for s in spends:
        figures[(residents[s.resident_id][0], month_of(s.created_at))][f"spent_{s.kind}"] += s.amount
    for g in ratings:
        key = (str(g.station_id), month_of(g.created_at))
        kind = "activity" if g.subject_kind == "activity" else "request"
        figures[key][f"rating_{kind}_sum"] += g.rating
        figures[key][f"rating_{kind}_count"] += 1
    for q in requested:
        figures[(str(q.station_id), month_of(q.created_at))]["requests_opened"] += 1
        if q.confirmed_at is not None:
            completed = figures[(str(q.station_id), month_of(q.confirmed_at))]
            completed["requests_completed"] += 1
            completed["complete_seconds"] += int((q.confirmed_at - q.created_at).total_seconds())
    return figures


def mean(total: float, count: float, digits: int) -> float | None:
    return round(total / count, digits) if count else None   # as the report rounds an average


def expected_rows(figures, places: dict[str, list[str]], months: list[date]) -> dict[tuple[str, str], dict]:
    """Rows per place (a group of stations) and month, cumulative registrations."""
    rows = {}
    for place, stations in places.items():
        registered = sum(v["registered"] for (s, m), v in figures.items() if s in stations and m < months[0])
        for month in months:
            sums = defaultdict(float)
            for station in stations:
                for metric, value in figures.get((station, month), {}).items():
                    sums[metric] += value
            registered += sums["registered"]
            rows[(place, month.strftime("%Y-%m"))] = {
                "registered": registered, "active": sums["active"],
                "hours": round(sums["minutes"] / 60, 2), "volunteer_hours": round(sums["volunteer_minutes"] / 60, 2),
                "earned_civic": sums["earned_civic"], "earned_agri": sums["earned_agri"],
                "spent_general": sums["spent_general"], "spent_agri_shop": sums["spent_agri_shop"],
                "participation_rate": round(sums["active"] / registered, 4) if registered else None,
                "rating_activities": mean(sums["rating_activity_sum"], sums["rating_activity_count"], 4),
                "ratings_activities": sums["rating_activity_count"],
                "rating_requests": mean(sums["rating_request_sum"], sums["rating_request_count"], 4),
                "ratings_requests": sums["rating_request_count"],
                "requests_opened": sums["requests_opened"], "requests_completed": sums["requests_completed"],
                "hours_to_complete": (round(sums["complete_seconds"] / sums["requests_completed"] / 3600, 2)
                                      if sums["requests_completed"] else None)}
    return rows


async def station_groups(world: World, realm: str) -> dict[str, dict[str, list[str]]]:
    async with world.engine.connect() as conn:
        stations = (await conn.execute(text("SELECT id, town_id, setting FROM stations WHERE realm = :realm"),
                                       {"realm": realm})).all()
    groups: dict[str, dict[str, list[str]]] = {"realm": {realm: [str(s.id) for s in stations]},
                                               "station": {str(s.id): [str(s.id)] for s in stations},
                                               "town": defaultdict(list), "setting": {"urban": [], "rural": []}}
    for s in stations:
        groups["town"][str(s.town_id)].append(str(s.id))
        groups["setting"][s.setting].append(str(s.id))
    return groups


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(scenario=scenarios)
def test_indicators_equal_a_direct_computation(world, scenario):
    realm, _ = world.run(build(world, scenario))
    today = datetime.now(TZ).date()
    months = model.month_range(model.add_months(today.replace(day=1), -MONTHS_BACK - 1).strftime("%Y-%m"),
                               None, today)
    figures = world.run(oracle(world, realm))
    groups = world.run(station_groups(world, realm))
    for level in model.LEVELS:
        report = world.run(world.indicators.report(realm, level, months[0].strftime("%Y-%m"), None, today))
        expected = expected_rows(figures, groups[level], months)
        got = {(row["place"], row["month"]): {key: row[key] for key in next(iter(expected.values()))}
               for row in report["rows"] if row["place"] in groups[level]}
        assert got == expected, level


def test_the_metrics_are_the_catalogue_and_the_rollup_columns(owner_conn):
    catalogue = {row[0] for row in owner_conn.execute("SELECT code FROM indicator_metrics")}
    columns = {row[0] for row in owner_conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'indicator_rollup'")}
    assert catalogue == set(model.METRICS) == columns - {"realm", "month", "station_id", "source"}


def test_a_source_adds_through_the_one_call(owner_conn, realm):
    """What a ratings or service-request trigger does: insight_rollup_add(...)."""
    owner_conn.execute("INSERT INTO towns (realm, name) VALUES (%s, 'T')", (realm,))
    station = owner_conn.execute("INSERT INTO stations (realm, town_id, name, setting) SELECT %s, id, 'S', 'rural' "
                                 "FROM towns WHERE realm = %s RETURNING id", (realm, realm)).fetchone()[0]
    for stars in (4, 2):
        owner_conn.execute("SELECT insight_rollup_add(%s, %s, now(), 'rating_activity_sum', %s), "
                           "insight_rollup_add(%s, %s, now(), 'rating_activity_count', 1)",
                           (realm, station, stars, realm, station))
    assert owner_conn.execute("SELECT source, rating_activity_sum, rating_activity_count FROM indicator_rollup "
                              "WHERE realm = %s", (realm,)).fetchall() == [("feedback", 6, 2)]
    import psycopg
    with pytest.raises(psycopg.errors.RaiseException):
        owner_conn.execute("SELECT insight_rollup_add(%s, %s, now(), 'realm; DROP TABLE x', 1)", (realm, station))
