"""The service loop's and reservations' events (issue 16 item 3) and their figures (item 1):
statement-level triggers in notify/sql and insight/sql on service_requests, ratings and
reservations. A committed change emits exactly one event, a rolled-back one none; the
dispatcher puts each in its recipient's inbox; the rollups count ratings and requests;
a confirmed request's minutes count toward its volunteer's star level."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from feedback.service import Feedback
from insight.service import Indicators, Privacy, Recognition
from notify.service import Dispatcher, Inbox
from orders import errors as order_errors
from orders import model
from orders.service import Orders
from tests.integration.earning_fixtures import make_place
from tests.resources_support import (PRIORITY_PRICE, clock, key, resource, resources_service, slot,  # noqa: F401
                                     world)

PAY = model.Pay("civic", 22, 100, "volunteering", 1)   # the default 志愿 rule: 90 minutes
DONE_MINUTES = 90


class RolledBack(Exception):
    pass


def actor(role: str, realm: str, resident_id: int | None = None) -> model.Actor:
    return model.Actor(role, realm, f"{role}:test", resident_id)


async def events_of(engine, realm: str, prefix: str) -> list[tuple[str, int, int | None]]:
    async with engine.connect() as conn:
        return [tuple(row) for row in await conn.execute(text(
            "SELECT type, subject_id, resident_id FROM events WHERE realm = :realm AND type LIKE :prefix "
            "ORDER BY id"), {"realm": realm, "prefix": prefix + "%"})]


async def inbox_types(engine, realm: str, kind: str, recipient: int, prefix: str = "") -> list[str]:
    page = await Inbox(engine).page(realm, kind, recipient, None, None)
    return sorted(row["type"] for row in page.items if row["type"].startswith(prefix))


@pytest.fixture
async def loop(earning, realm, engine, ledger):
    """A place with a requester (residents[0]) and an approved volunteer (residents[1])."""
    orders = Orders(engine, ledger)
    place = await make_place(earning, realm, residents=3)
    await orders.apply(realm, place.residents[1], ["助老"], [place.station_id], None)
    await orders.decide(realm, place.residents[1], True, "organizer:test")
    return orders, place


async def done_request(orders: Orders, place) -> dict:
    starts = datetime.now(timezone.utc) + timedelta(hours=1)
    new = model.NewRequest(place.residents[0], place.station_id, "助老", "帮忙买菜", starts,
                           starts + timedelta(hours=3), "幸福路 8 号")
    request = (await orders.create(place.realm, new, actor("resident", place.realm, place.residents[0]),
                                   f"create-{datetime.now().timestamp()}")).request
    volunteer = actor("resident", place.realm, place.residents[1])
    await orders.take(request["id"], model.Step("dispatch", volunteer_id=place.residents[1]),
                      actor("organizer", place.realm), None)
    await orders.take(request["id"], model.Step("accept"), volunteer, None)
    return (await orders.take(request["id"], model.Step("done", minutes=DONE_MINUTES), volunteer, None)).request


async def confirm(orders: Orders, engine, place, request: dict, rating: int) -> dict:
    feedback = Feedback(engine)

    async def hook(conn, confirmed):
        await feedback.rate_request_in(conn, confirmed, 3)
    return (await orders.take(request["id"], model.Step("confirm", rating=rating),
                              actor("resident", place.realm, place.residents[0]), None, pay=PAY,
                              on_confirmed=hook)).request


async def test_each_step_of_a_request_emits_one_event_to_its_recipient(loop, engine, realm):
    orders, place = loop
    request = await done_request(orders, place)
    requester, volunteer = place.residents[0], place.residents[1]
    with pytest.raises(order_errors.RequestNotDone):    # the row moved, then the step failed: rolled back
        await orders.take(request["id"], model.Step("confirm", rating=2),
                          actor("resident", realm, requester), None, pay=None)
    assert [e[0] for e in await events_of(engine, realm, "service_request.")] == [
        "service_request.opened", "service_request.dispatched", "service_request.accepted", "service_request.done"]
    await confirm(orders, engine, place, request, rating=2)
    assert await events_of(engine, realm, "service_request.") == [
        ("service_request.opened", request["id"], None),           # for the realm's staff: the dispatchers
        ("service_request.dispatched", request["id"], volunteer), ("service_request.accepted", request["id"], requester),
        ("service_request.done", request["id"], requester), ("service_request.confirmed", request["id"], requester)]
    assert await events_of(engine, realm, "rating.") == [("rating.low", request["id"], None)]

    await Dispatcher(engine).dispatch_all()
    assert await inbox_types(engine, realm, "resident", volunteer) == ["points.earned", "service_request.dispatched"]
    assert [t for t in await inbox_types(engine, realm, "resident", requester) if t.startswith("service_")] == [
        "service_request.accepted", "service_request.confirmed", "service_request.done"]
    staff = await inbox_types(engine, realm, "staff", 0)
    assert "rating.low" in staff and "service_request.opened" in staff


async def test_a_cancelled_request_emits_once_and_a_rolled_back_rating_nothing(loop, engine, realm):
    orders, place = loop
    starts = datetime.now(timezone.utc) + timedelta(hours=1)
    new = model.NewRequest(place.residents[0], place.station_id, "助老", "陪诊", starts, starts + timedelta(hours=2), None)
    request = (await orders.create(realm, new, actor("resident", realm, place.residents[0]), "c-1")).request
    await orders.take(request["id"], model.Step("cancel"), actor("resident", realm, place.residents[0]), "c-2")
    await orders.take(request["id"], model.Step("cancel"), actor("resident", realm, place.residents[0]), "c-2")
    assert await events_of(engine, realm, "service_request.") == [
        ("service_request.opened", request["id"], None),
        ("service_request.cancelled", request["id"], place.residents[0])]

    done = await done_request(orders, place)
    feedback = Feedback(engine)

    async def rate_then_fail(conn, confirmed):
        await feedback.rate_request_in(conn, confirmed, 3)
        found = (await conn.execute(text("SELECT count(*) FROM events WHERE realm = :realm AND type = 'rating.low'"),
                                    {"realm": realm})).scalar_one()
        assert found == 1           # written in the transaction of the rating ...
        raise RolledBack()
    with pytest.raises(RolledBack):
        await orders.take(done["id"], model.Step("confirm", rating=1), actor("resident", realm, place.residents[0]),
                          None, pay=PAY, on_confirmed=rate_then_fail)
    assert "service_request.confirmed" not in [e[0] for e in await events_of(engine, realm, "service_request.")]
    assert await events_of(engine, realm, "rating.") == []


async def test_satisfaction_and_requests_feed_the_indicators(loop, engine, realm, owner_conn):
    orders, place = loop
    for rating in (5, 2):
        await confirm(orders, engine, place, await done_request(orders, place), rating)
    report = await Indicators(engine).report(realm, "station", None, None)
    month = datetime.now(timezone(timedelta(hours=8))).strftime("%Y-%m")
    row = next(r for r in report["rows"] if r["place"] == str(place.station_id) and r["month"] == month)
    seconds = owner_conn.execute(
        "SELECT sum(floor(extract(epoch FROM confirmed_at - created_at))) FROM service_requests "
        "WHERE realm = %s AND state = 'confirmed'", (realm,)).fetchone()[0]
    assert (row["requests_opened"], row["requests_completed"], row["ratings_requests"]) == (2, 2, 2)
    assert row["rating_requests"] == 3.5
    assert row["hours_to_complete"] == round(float(seconds) / 2 / 3600, 2)


async def test_confirmed_requests_count_toward_the_volunteers_star_hours(loop, engine, realm):
    orders, place = loop
    volunteer = await Privacy(engine).resident(place.residents[1])
    before = await Recognition(engine).level(volunteer)
    await done_request(orders, place)                         # done, not confirmed: not yet
    assert (await Recognition(engine).level(volunteer)).hours == before.hours
    await confirm(orders, engine, place, await done_request(orders, place), 5)
    assert (await Recognition(engine).level(volunteer)).hours == before.hours + DONE_MINUTES / 60


async def test_reservations_emit_booked_and_one_close_each(resources_service, world, engine, realm, clock,
                                                           owner_conn):
    made = await resource(resources_service, world, priority_price=PRIORITY_PRICE, priority_places=1)
    place = await slot(resources_service, made, hours_ahead=1, priority_places=1)
    first, second, third = world.residents
    attended = await resources_service.book(place["id"], world.booker(first), True, key(), "r:1")
    cancelled = await resources_service.book(place["id"], world.booker(second), False, key(), "r:2")
    missed = await resources_service.book(place["id"], world.booker(third), False, key(), "r:3")
    await resources_service.mark(attended["id"], "attended", "merchant:1")
    await resources_service.mark(attended["id"], "attended", "merchant:1")          # a replay: no second event
    await resources_service.cancel(cancelled["id"], True, "merchant:1")             # the provider cancels

    with pytest.raises(RolledBack), owner_conn.transaction():
        owner_conn.execute("UPDATE reservations SET status = 'cancelled', closed_at = now() "
                           "WHERE realm = %s AND id = %s", (realm, missed["id"]))
        raise RolledBack()
    clock.offset = timedelta(hours=2)
    await resources_service.mark(missed["id"], "no_show", "merchant:1")
    assert await events_of(engine, realm, "reservation.") == [
        ("reservation.booked", attended["id"], first), ("reservation.booked", cancelled["id"], second),
        ("reservation.booked", missed["id"], third), ("reservation.attended", attended["id"], first),
        ("reservation.cancelled", cancelled["id"], second), ("reservation.no_show", missed["id"], third)]

    await Dispatcher(engine).dispatch_all()
    assert await inbox_types(engine, realm, "resident", first, "reservation.") == ["reservation.attended", "reservation.booked"]
    assert await inbox_types(engine, realm, "resident", second, "reservation.") == ["reservation.booked", "reservation.cancelled"]
    assert await inbox_types(engine, realm, "resident", third, "reservation.") == ["reservation.booked", "reservation.no_show"]
