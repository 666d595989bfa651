"""The service loop on the real database: a request pays its volunteer once under 20
concurrent confirmations; a volunteer's pay never passes the 志愿 rule's daily cap, with
the day's attendance, however many confirmations run at once; a dispatch not accepted
in time returns to the queue; an average alerts once per crossing; and the database
refuses what the service would."""
from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import psycopg
import pytest
from sqlalchemy import text

from api import service_loop
from earning import model as earning_model
from earning.reference import Book, service_pay
from feedback.service import Feedback
from ledger import errors
from ledger import model as ledger_model
from orders import errors as order_errors
from orders import model
from orders.service import Orders
from tests.integration.earning_fixtures import make_place, past_activity, yesterday_evening
from tests.integration.service_fixtures import approve, confirm, done_request

CONCURRENT_CONFIRMS = 20
VOLUNTEER_CONFIRMS_AT_ONCE, ROUNDS = 6, 3
CAPPED_RULE = earning_model.Rule("civic", 20, 2, 240, 30)     # 22 points for 60 to 119 minutes; 30 a day
MINUTES = 90
DONE_AT = yesterday_evening() - timedelta(hours=1)            # 22:00 the realm's yesterday
DAY = DONE_AT.astimezone(ZoneInfo(ledger_model.DEFAULT_TIMEZONE)).date()
PAY = model.Pay("civic", 22, 100, "volunteering", 1)   # the default 志愿 rule: 90 minutes


def actor(role: str, realm: str, resident_id: int | None = None) -> model.Actor:
    return model.Actor(role, realm, f"{role}:test", resident_id)


@pytest.fixture
async def orders(engine, ledger) -> Orders:
    return Orders(engine, ledger)


@pytest.fixture
async def loop(earning, realm, orders):
    """A place with a requester (residents[0]) and an approved volunteer (residents[1])."""
    place = await make_place(earning, realm, residents=4)
    for volunteer in place.residents[1:3]:
        await orders.apply(realm, volunteer, ["助老"], [place.station_id], None)
        await orders.decide(realm, volunteer, True, "organizer:test")
    return place


async def new_request(orders: Orders, place, hours: float = 3, starts_in_h: float = 1) -> dict:
    starts = datetime.now(timezone.utc) + timedelta(hours=starts_in_h)
    new = model.NewRequest(place.residents[0], place.station_id, "助老", "帮忙买菜", starts,
                           starts + timedelta(hours=hours), "幸福路 8 号")
    made = await orders.create(place.realm, new, actor("resident", place.realm, place.residents[0]),
                               f"create-{datetime.now().timestamp()}")
    return made.request


async def done(orders: Orders, place) -> dict:
    request = await new_request(orders, place)
    organizer, volunteer = actor("organizer", place.realm), actor("resident", place.realm, place.residents[1])
    await orders.take(request["id"], model.Step("dispatch", volunteer_id=place.residents[1]), organizer, None)
    await orders.take(request["id"], model.Step("accept"), volunteer, None)
    return (await orders.take(request["id"], model.Step("done", minutes=90), volunteer, None)).request


async def volunteer_postings(engine, realm: str, resident_id: int) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text(
            "SELECT count(*) FROM postings p JOIN accounts a ON a.realm = p.realm AND a.id = p.account_id "
            "WHERE a.realm = :realm AND a.resident_id = :resident AND a.asset = 'civic'"),
            {"realm": realm, "resident": resident_id})).scalar_one()


async def test_twenty_concurrent_confirms_pay_once(orders, loop, engine):
    request = await done(orders, loop)
    requester = actor("resident", loop.realm, loop.residents[0])
    outcomes = await asyncio.gather(*(
        orders.take(request["id"], model.Step("confirm", rating=5), requester, f"confirm-{n}", pay=PAY)
        for n in range(CONCURRENT_CONFIRMS)), return_exceptions=True)
    confirmed = [o for o in outcomes if not isinstance(o, Exception)]
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert len(confirmed) == 1, outcomes
    assert all(isinstance(o, order_errors.RequestAlreadyConfirmed) for o in refused), refused
    assert await volunteer_postings(engine, loop.realm, loop.residents[1]) == 1
    awards = await orders.awards(request)
    assert [(a["kind"], a["points"]) for a in awards] == [("volunteer", PAY.points), ("rating", 2)]


async def test_twenty_concurrent_retries_under_one_key_pay_once(orders, loop, engine):
    request = await done(orders, loop)
    requester = actor("resident", loop.realm, loop.residents[0])
    outcomes = await asyncio.gather(*(
        orders.take(request["id"], model.Step("confirm", rating=4), requester, "one-key", pay=PAY)
        for _ in range(CONCURRENT_CONFIRMS)))
    assert sorted(o.replayed for o in outcomes) == [False] + [True] * (CONCURRENT_CONFIRMS - 1)
    assert {o.request["state"] for o in outcomes} == {"confirmed"}
    assert await volunteer_postings(engine, loop.realm, loop.residents[1]) == 1


async def test_a_dispatch_not_accepted_in_time_returns_to_the_queue(orders, loop):
    request = await new_request(orders, loop)
    await orders.take(request["id"], model.Step("dispatch", volunteer_id=loop.residents[1]),
                      actor("organizer", loop.realm), None)
    assert (await orders.volunteer(loop.realm, loop.residents[1]))["open_tasks"] == 1
    await orders.time_out_dispatches(model.DISPATCH_TIMEOUT_S_DEFAULT)      # not yet
    assert (await orders.request(request["id"]))["state"] == "dispatched"
    returned = await orders.time_out_dispatches(0)
    assert (loop.realm, request["id"]) in {(r["realm"], r["id"]) for r in returned}
    back = await orders.request(request["id"])
    assert (back["state"], back["volunteer_id"], back["queue_note"]) == ("open", None, model.TIMEOUT_NOTE)
    assert (await orders.volunteer(loop.realm, loop.residents[1]))["open_tasks"] == 0
    queue = await orders.queue(loop.realm, loop.station_id, None, None)
    assert request["id"] in [row["id"] for row in queue.items]


async def test_a_request_past_its_window_is_flagged(orders, loop):
    request = await new_request(orders, loop, hours=1, starts_in_h=-2)
    await orders.flag_overdue()
    assert (await orders.request(request["id"]))["overdue"] is True


async def test_an_average_alerts_once_per_crossing(orders, loop, engine):
    feedback = Feedback(engine)
    requester = actor("resident", loop.realm, loop.residents[0])
    volunteer_key = str(loop.residents[1])

    async def rate(rating: int) -> None:
        request = await done(orders, loop)
        async def hook(conn, confirmed):
            await feedback.rate_request_in(conn, confirmed, model.ALERT_RATINGS_MIN_DEFAULT)
        await orders.take(request["id"], model.Step("confirm", rating=rating), requester, None, pay=PAY,
                          on_confirmed=hook)

    async def volunteer_alerts() -> int:
        page = await feedback.alerts(loop.realm, None, False, None, None)
        return sum(1 for a in page.items if a["kind"] == "average_below" and a["subject_kind"] == "volunteer"
                   and a["subject_key"] == volunteer_key)

    for rating in (3, 2):
        await rate(rating)
    assert await volunteer_alerts() == 0             # fewer than 3 ratings: no alert yet
    await rate(3)                                    # 8/3 < 3 on 3 ratings: the crossing
    assert await volunteer_alerts() == 1
    await rate(2)                                    # still below: no second alert
    assert await volunteer_alerts() == 1
    for _ in range(4):
        await rate(5)                                # back above 3
    assert await volunteer_alerts() == 1
    for _ in range(5):
        await rate(1)                                # below again: a new crossing, one more alert
    assert await volunteer_alerts() == 2
    low = [a for a in (await feedback.alerts(loop.realm, None, False, None, 200)).items if a["kind"] == "low_rating"]
    assert len(low) == 2 + 5                         # every 1 or 2 alerts the dispatcher
    assert {a["recipient"] for a in low} == {"organizer:test"}


def _as_app(app_conn: psycopg.Connection, sql: str, params: dict) -> None:
    with app_conn.transaction():
        app_conn.execute(sql, params)


async def test_the_database_refuses_illegal_transitions_and_second_awards(orders, loop, app_conn, owner_conn):
    request = await done(orders, loop)
    realm, request_id = loop.realm, request["id"]
    with pytest.raises(psycopg.errors.RaiseException, match="transition_not_allowed"):
        _as_app(app_conn, "UPDATE service_requests SET state = 'open' WHERE realm = %(r)s AND id = %(i)s",
                {"r": realm, "i": request_id})
    with pytest.raises(psycopg.errors.RaiseException, match="transition_not_allowed"):
        _as_app(app_conn, "INSERT INTO service_requests (realm, requester_id, station_id, category, description, "
                "wanted_from, wanted_until, state, volunteer_id, minutes, created_by) "
                "SELECT realm, requester_id, station_id, category, description, wanted_from, wanted_until, "
                "'done', volunteer_id, 60, 'forger' FROM service_requests WHERE realm = %(r)s AND id = %(i)s",
                {"r": realm, "i": request_id})
    with pytest.raises(psycopg.errors.RaiseException, match="service_request_immutable"):
        _as_app(owner_conn, "UPDATE service_requests SET station_id = station_id + 1 WHERE realm = %(r)s AND id = %(i)s",
                {"r": realm, "i": request_id})
    with pytest.raises(psycopg.errors.RaiseException, match="service_award_mismatch"):
        _as_app(app_conn, "INSERT INTO service_awards (realm, request_id, kind, resident_id, entry_id, asset, points, "
                "rule_version, activity_type, award_day) SELECT %(r)s, %(i)s, 'volunteer', %(v)s, max(id), 'civic', 22, "
                "1, 'volunteering', current_date FROM entries WHERE realm = %(r)s",
                {"r": realm, "i": request_id, "v": loop.residents[1]})
    with pytest.raises(psycopg.errors.CheckViolation, match="service_awards_rule_day"):   # a volunteer award names its rule's day
        _as_app(app_conn, "INSERT INTO service_awards (realm, request_id, kind, resident_id, entry_id, asset, points) "
                "SELECT %(r)s, %(i)s, 'volunteer', %(v)s, max(id), 'civic', 22 FROM entries WHERE realm = %(r)s",
                {"r": realm, "i": request_id, "v": loop.residents[1]})
    await orders.take(request_id, model.Step("confirm"), actor("resident", realm, loop.residents[0]), None, pay=PAY)
    with pytest.raises(psycopg.errors.RaiseException, match="service_request_closed"):
        _as_app(app_conn, "UPDATE service_requests SET comment = 'x' WHERE realm = %(r)s AND id = %(i)s",
                {"r": realm, "i": request_id})
    with pytest.raises(psycopg.errors.UniqueViolation):
        _as_app(app_conn, "INSERT INTO service_awards (realm, request_id, kind, resident_id, entry_id, asset, points, "
                "rule_version, activity_type, award_day) SELECT realm, request_id, kind, resident_id, entry_id, asset, "
                "points, rule_version, activity_type, award_day FROM service_awards "
                "WHERE realm = %(r)s AND request_id = %(i)s", {"r": realm, "i": request_id})
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _as_app(app_conn, "DELETE FROM service_awards WHERE realm = %(r)s", {"r": realm})
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _as_app(app_conn, "DELETE FROM service_requests WHERE realm = %(r)s", {"r": realm})
    with pytest.raises(psycopg.errors.RaiseException, match="append_only"):
        _as_app(owner_conn, "DELETE FROM service_requests WHERE realm = %(r)s", {"r": realm})


async def test_the_service_refuses_a_step_from_the_wrong_state_and_the_wrong_actor(orders, loop):
    request = await new_request(orders, loop)
    stranger = actor("resident", loop.realm, loop.residents[3])
    with pytest.raises(order_errors.RequestNotDone):
        await orders.take(request["id"], model.Step("confirm"), actor("resident", loop.realm, loop.residents[0]),
                          None, pay=PAY)
    with pytest.raises(errors.Forbidden):
        await orders.take(request["id"], model.Step("cancel"), stranger, None)
    with pytest.raises(order_errors.VolunteerIsRequester):
        await orders.take(request["id"], model.Step("dispatch", volunteer_id=loop.residents[0]),
                          actor("organizer", loop.realm), None)
    await orders.apply(loop.realm, loop.residents[3], ["助老"], [loop.station_id], "晚上")
    with pytest.raises(order_errors.VolunteerNotApproved):
        await orders.take(request["id"], model.Step("dispatch", volunteer_id=loop.residents[3]),
                          actor("organizer", loop.realm), None)
    assert (await orders.request(request["id"]))["state"] == "open"


# the 志愿 rule's daily cap --------------------------------------------------------------

async def capped(earning, realm: str) -> earning_model.Rule:
    """The realm's 志愿 rule, made CAPPED_RULE (its new version)."""
    changed = await earning.change_rule(realm, service_loop.VOLUNTEER_ACTIVITY_TYPE, CAPPED_RULE, "test")
    return replace(CAPPED_RULE, version=changed["version"])


async def balance(ledger, realm: str, resident_id: int) -> int:
    return (await ledger.owned_account(realm, "resident", "civic", resident_id=resident_id))["balance"]


async def confirmed_in_turn(orders, earning, loop, volunteer: int, count: int, done_at: datetime) -> list[int]:
    """`count` requests done by `volunteer` at `done_at`, confirmed one after another by the
    realm's 志愿 rule (as the route pays): what each paid."""
    paid = []
    for _ in range(count):
        request = await done_request(orders, loop.realm, loop.station_id, loop.residents[0], volunteer, MINUTES,
                                     done_at)
        paid.append(await confirm(orders, request, await service_loop.volunteer_pay(earning, loop.realm, MINUTES)))
        assert (await orders.request(request["id"]))["state"] == "confirmed"
    return paid


async def test_confirmations_of_one_day_share_the_volunteers_daily_cap(orders, earning, ledger, loop):
    """22, then the 8 the cap of 30 leaves, then nothing (still confirmed, no award); each
    as the reference model pays it."""
    rule, volunteer = await capped(earning, loop.realm), loop.residents[1]
    paid = await confirmed_in_turn(orders, earning, loop, volunteer, 3, DONE_AT)
    book, expected = Book(budgets={}), []
    for _ in paid:
        points, book = service_pay(book, volunteer, service_loop.VOLUNTEER_ACTIVITY_TYPE, DAY, rule, MINUTES)
        expected.append(points)
    assert paid == expected == [22, 8, 0]
    assert await balance(ledger, loop.realm, volunteer) == CAPPED_RULE.daily_cap_points


async def test_a_rated_confirmation_past_the_cap_still_pays_the_rating_reward(orders, earning, ledger, loop):
    await capped(earning, loop.realm)
    requester, volunteer = loop.residents[0], loop.residents[1]
    assert await confirmed_in_turn(orders, earning, loop, volunteer, 2, DONE_AT) == [22, 8]
    request = await done_request(orders, loop.realm, loop.station_id, requester, volunteer, MINUTES, DONE_AT)
    pay = await service_loop.volunteer_pay(earning, loop.realm, MINUTES)
    await orders.take(request["id"], model.Step("confirm", rating=4), actor("resident", loop.realm, requester),
                      None, pay=pay)
    assert [(a["kind"], a["points"]) for a in await orders.awards(request)] == [("rating", 2)]
    assert await balance(ledger, loop.realm, requester) == 2


async def test_attendance_and_confirmations_of_one_day_count_against_each_other(orders, earning, ledger, loop):
    """A volunteering activity's award that day leaves a confirmation what the cap has
    left, and a confirmation leaves a later attendance chunk what it has left."""
    await capped(earning, loop.realm)
    first, second = loop.residents[1], loop.residents[2]
    activity = await past_activity(earning, loop, service_loop.VOLUNTEER_ACTIVITY_TYPE, hours_ago=3,
                                   before=yesterday_evening())
    attended = await earning.record_attendance(activity, [(first, 60)], "test", f"att-{uuid.uuid4()}")
    assert attended.results[0]["points"] == 22
    assert await confirmed_in_turn(orders, earning, loop, first, 1, DONE_AT) == [8]
    assert await confirmed_in_turn(orders, earning, loop, second, 1, DONE_AT) == [22]
    attended = await earning.record_attendance(activity, [(second, 60)], "test", f"att-{uuid.uuid4()}")
    assert attended.results[0]["points"] == 8
    for volunteer in (first, second):
        assert await balance(ledger, loop.realm, volunteer) == CAPPED_RULE.daily_cap_points


async def test_a_confirmation_of_another_day_is_not_capped_by_this_one(orders, earning, loop):
    await capped(earning, loop.realm)
    volunteer = loop.residents[1]
    assert await confirmed_in_turn(orders, earning, loop, volunteer, 2, DONE_AT) == [22, 8]
    assert await confirmed_in_turn(orders, earning, loop, volunteer, 2, DONE_AT - timedelta(days=1)) == [22, 8]
    assert await confirmed_in_turn(orders, earning, loop, volunteer, 1, DONE_AT) == [0]


async def test_concurrent_confirmations_of_one_volunteer_never_pay_past_the_cap(orders, earning, ledger, loop):
    """Requests of one volunteer and day confirmed all at once, each on its own connection,
    round after round (a day each): together they pay exactly the cap. Each is of another
    station: confirmations of one station take their turns anyway (the month's indicator
    row of the station), so only the volunteer's lock keeps these from paying the cap each."""
    await capped(earning, loop.realm)
    town = await earning.create_town(loop.realm, "并发街道")
    stations = [(await earning.create_station(loop.realm, town["id"], f"并发社区{n}", "urban"))["id"]
                for n in range(VOLUNTEER_CONFIRMS_AT_ONCE)]
    volunteer = loop.residents[3]
    await approve(orders, loop.realm, volunteer, *stations)
    pay = await service_loop.volunteer_pay(earning, loop.realm, MINUTES)
    for day in range(ROUNDS):
        requests = [await done_request(orders, loop.realm, station, loop.residents[0], volunteer, MINUTES,
                                       DONE_AT - timedelta(days=day)) for station in stations]
        paid = await asyncio.gather(*(confirm(orders, request, pay) for request in requests))
        assert sorted(paid) == [0] * (VOLUNTEER_CONFIRMS_AT_ONCE - 2) + [8, 22], f"day {day}: {paid}"
    assert await balance(ledger, loop.realm, volunteer) == ROUNDS * CAPPED_RULE.daily_cap_points


async def test_the_database_refuses_a_volunteer_award_off_its_done_day(orders, earning, ledger, loop, app_conn):
    """A confirmation the cap left nothing has no volunteer award; one forged for it, on
    another day than the request was done (out of that day's cap), is refused."""
    await capped(earning, loop.realm)
    volunteer = loop.residents[1]
    assert await confirmed_in_turn(orders, earning, loop, volunteer, 3, DONE_AT) == [22, 8, 0]
    third = (await orders.requests(loop.realm, "assigned", volunteer, None, None, 1)).items[0]
    budget = (await ledger.system_account(loop.realm, "budget", "civic"))["id"]
    account = (await ledger.owned_account(loop.realm, "resident", "civic", resident_id=volunteer))["id"]
    entry = await ledger.post(ledger_model.EntryDraft(realm=loop.realm, kind="earn", created_by="test", lines=(
        ledger_model.Line(budget, -5), ledger_model.Line(account, 5))))
    with pytest.raises(psycopg.errors.RaiseException, match="service_award_mismatch"):
        _as_app(app_conn, "INSERT INTO service_awards (realm, request_id, kind, resident_id, entry_id, asset, points, "
                "rule_version, activity_type, award_day) SELECT %(r)s, %(i)s, 'volunteer', %(v)s, %(e)s, 'civic', 5, "
                "max(version), 'volunteering', %(d)s FROM activity_rules "
                "WHERE realm = %(r)s AND activity_type = 'volunteering'",
                {"r": loop.realm, "i": third["id"], "v": volunteer, "e": entry["id"], "d": DAY + timedelta(days=1)})
