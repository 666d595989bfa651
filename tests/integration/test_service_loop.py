"""The service loop on the real database: a request pays its volunteer once under 20
concurrent confirmations; a dispatch not accepted in time returns to the queue; an
average alerts once per crossing; and the database refuses what the service would."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from sqlalchemy import text

from feedback.service import Feedback
from ledger import errors
from orders import errors as order_errors
from orders import model
from orders.service import Orders
from tests.integration.earning_fixtures import make_place

CONCURRENT_CONFIRMS = 20
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
