"""Reservations against a real PostgreSQL: capacity under concurrency, priority points
held then captured or released once, local alternatives, and the refusals."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import psycopg
import pytest

from ledger import errors as ledger_errors
import merchants.audit  # noqa: F401  (the audit checks the app registers)
import redemption.audit  # noqa: F401
import resources.audit  # noqa: F401
from ledger.audit import run_audit
from resources import errors
from tests.resources_support import (PRIORITY_PRICE, STARTING_POINTS, clock, key, next_monday,  # noqa: F401
                                     resource, resources_service, slot, world)

CONCURRENT_BOOKINGS = 50
PLACES = 5


async def balance(ledger, realm, resident_id):
    return (await ledger.owned_account(realm, "resident", "civic", resident_id=resident_id))["balance"]


async def provider_balance(ledger, world):
    return (await ledger.owned_account(world.realm, "merchant", "civic", merchant_id=world.merchant_id))["balance"]


async def hold_balance(ledger, realm):
    return (await ledger.system_account(realm, "hold", "civic"))["balance"]


async def test_fifty_concurrent_bookings_for_five_places_book_exactly_five(resources_service, world, engine, ledger,
                                                                          realm):
    from tests.resources_support import make_world

    many = await make_world(engine, ledger, realm, residents=CONCURRENT_BOOKINGS, points=100)
    made = await resource(resources_service, world)
    place = await slot(resources_service, made, capacity=PLACES)
    outcomes = await asyncio.gather(*(
        resources_service.book(place["id"], many.booker(resident), False, key(), f"resident:{resident}")
        for resident in many.residents), return_exceptions=True)
    booked = [o for o in outcomes if isinstance(o, dict)]
    refused = [o for o in outcomes if not isinstance(o, dict)]
    assert len(booked) == PLACES
    assert {type(o) for o in refused} == {errors.SlotFull}
    assert (await resources_service.slot(place["id"]))["booked"] == PLACES
    assert (await run_audit(engine, realm, names=["slot_places_equal_bookings"])).ok


async def test_fifty_concurrent_priority_bookings_hold_exactly_five_prices(resources_service, world, engine, ledger,
                                                                          realm):
    from tests.resources_support import make_world

    many = await make_world(engine, ledger, realm, residents=CONCURRENT_BOOKINGS, points=100)
    made = await resource(resources_service, world, priority_price=PRIORITY_PRICE, priority_places=2)
    place = await slot(resources_service, made, capacity=PLACES, priority_places=2)
    outcomes = await asyncio.gather(*(
        resources_service.book(place["id"], many.booker(resident), resident % 2 == 0, key(), f"resident:{resident}")
        for resident in many.residents), return_exceptions=True)
    booked = [o for o in outcomes if isinstance(o, dict)]
    assert len(booked) == PLACES
    assert all(isinstance(o, errors.SlotFull) for o in outcomes if not isinstance(o, dict))
    assert await hold_balance(ledger, realm) == PRIORITY_PRICE * sum(1 for o in booked if o["priority"])
    assert sum(1 for o in booked if not o["priority"]) <= PLACES - 2   # ordinary bookings never take kept places
    assert (await run_audit(engine, realm)).ok


async def test_priority_is_held_at_booking_and_captured_once_when_attended(resources_service, world, ledger, clock,
                                                                           realm, engine):
    made = await resource(resources_service, world, priority_price=PRIORITY_PRICE, priority_places=1)
    place = await slot(resources_service, made, hours_ahead=1, priority_places=1)
    resident = world.residents[0]
    booked = await resources_service.book(place["id"], world.booker(resident), True, key(), "resident:1")
    assert booked["points"] == "held" and booked["price"] == PRIORITY_PRICE
    assert await balance(ledger, realm, resident) == STARTING_POINTS - PRIORITY_PRICE
    assert await hold_balance(ledger, realm) == PRIORITY_PRICE
    hold = await ledger.entry(booked["hold_entry_id"])
    assert hold["kind"] == "hold" and hold["reference"] == f"reservation:{booked['id']}"
    attended = await resources_service.mark(booked["id"], "attended", "merchant:1")
    assert attended["status"] == "attended" and attended["points"] == "captured"
    again = await resources_service.mark(booked["id"], "attended", "merchant:1")
    assert again["replayed"] and again["close_entry_id"] == attended["close_entry_id"]
    assert await provider_balance(ledger, world) == PRIORITY_PRICE
    assert await hold_balance(ledger, realm) == 0
    assert (await ledger.entry(attended["close_entry_id"]))["kind"] == "capture"
    with pytest.raises(errors.ReservationClosed):
        await resources_service.cancel(booked["id"], True, "merchant:1")
    assert (await run_audit(engine, realm)).ok


async def test_cancel_before_the_cutoff_releases_and_after_it_is_refused(resources_service, world, ledger, clock,
                                                                         realm):
    made = await resource(resources_service, world, priority_price=PRIORITY_PRICE, cancel_cutoff_h=24)
    place = await slot(resources_service, made, hours_ahead=48)
    first, second = world.residents[:2]
    early = await resources_service.book(place["id"], world.booker(first), True, key(), "r:1")
    late = await resources_service.book(place["id"], world.booker(second), True, key(), "r:2")
    cancelled = await resources_service.cancel(early["id"], False, "r:1")
    assert cancelled["status"] == "cancelled" and cancelled["points"] == "released"
    assert await balance(ledger, realm, first) == STARTING_POINTS
    assert (await resources_service.cancel(early["id"], False, "r:1"))["replayed"]
    clock.offset = timedelta(hours=30)
    with pytest.raises(errors.CancelCutoffPassed):
        await resources_service.cancel(late["id"], False, "r:2")
    assert (await resources_service.reservation(late["id"]))["status"] == "booked"
    assert await balance(ledger, realm, second) == STARTING_POINTS - PRIORITY_PRICE
    by_provider = await resources_service.cancel(late["id"], True, "merchant:1")
    assert by_provider["status"] == "provider_cancelled" and by_provider["points"] == "released"
    assert await balance(ledger, realm, second) == STARTING_POINTS


@pytest.mark.parametrize("forfeit", [True, False])
async def test_no_show_forfeits_to_the_provider_only_when_the_policy_says(resources_service, world, ledger, clock,
                                                                          realm, forfeit):
    made = await resource(resources_service, world, priority_price=PRIORITY_PRICE, no_show_forfeit=forfeit)
    place = await slot(resources_service, made, hours_ahead=1)
    resident = world.residents[0]
    booked = await resources_service.book(place["id"], world.booker(resident), True, key(), "r:1")
    with pytest.raises(errors.MarkTooEarly):
        await resources_service.mark(booked["id"], "no_show", "merchant:1")
    clock.offset = timedelta(hours=2)
    marked = await resources_service.mark(booked["id"], "no_show", "merchant:1")
    assert marked["points"] == ("captured" if forfeit else "released")
    assert await provider_balance(ledger, world) == (PRIORITY_PRICE if forfeit else 0)
    assert await balance(ledger, realm, resident) == STARTING_POINTS - (PRIORITY_PRICE if forfeit else 0)


async def test_a_cancel_racing_an_attended_mark_ends_in_one_capture_or_one_release(resources_service, world, ledger,
                                                                                   realm, engine):
    made = await resource(resources_service, world, priority_price=PRIORITY_PRICE, cancel_cutoff_h=0)
    for round_number in range(10):
        place = await slot(resources_service, made, hours_ahead=1 + round_number / 10)
        booked = await resources_service.book(place["id"], world.booker(world.residents[0]), True, key(), "r:1")
        outcomes = await asyncio.gather(resources_service.cancel(booked["id"], True, "merchant:1"),
                                        resources_service.mark(booked["id"], "attended", "merchant:1"),
                                        return_exceptions=True)
        winners = [o for o in outcomes if isinstance(o, dict)]
        assert len(winners) == 1, outcomes
        assert all(isinstance(o, errors.ReservationClosed) for o in outcomes if not isinstance(o, dict))
        entries = await reference_entries(engine, realm, booked["id"])
        assert entries == ["hold", "capture" if winners[0]["status"] == "attended" else "release"]
    assert await hold_balance(ledger, realm) == 0
    assert (await run_audit(engine, realm)).ok


async def reference_entries(engine, realm, reservation_id):
    from sqlalchemy import text

    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT kind FROM entries WHERE realm = :realm AND reference = :ref ORDER BY id"),
                                  {"realm": realm, "ref": f"reservation:{reservation_id}"})
        return [row.kind for row in rows]


async def test_refusals_change_nothing(resources_service, world, ledger, clock, realm, engine):
    made = await resource(resources_service, world, priority_price=PRIORITY_PRICE, booking_opens_h=24,
                          priority_early_h=24)
    place = await slot(resources_service, made, hours_ahead=36)
    resident = world.residents[0]
    with pytest.raises(errors.BookingNotOpen):
        await resources_service.book(place["id"], world.booker(resident), False, key(), "r:1")
    booked = await resources_service.book(place["id"], world.booker(resident), True, key(), "r:1")
    with pytest.raises(errors.AlreadyBooked):
        await resources_service.book(place["id"], world.booker(resident), True, key(), "r:1")
    with pytest.raises(errors.MarkTooEarly):
        await resources_service.mark(booked["id"], "attended", "merchant:1")
    with pytest.raises(errors.InvalidBooking):
        await resources_service.book(place["id"], world.booker(), True, key(), "organizer:1")
    poor = world.residents[1]
    clock.offset = timedelta(hours=40)
    with pytest.raises(errors.SlotPast):
        await resources_service.book(place["id"], world.booker(poor), False, key(), "r:2")
    assert await balance(ledger, realm, resident) == STARTING_POINTS - PRIORITY_PRICE
    assert (await resources_service.slot(place["id"]))["booked"] == 1


async def test_a_replayed_key_answers_the_first_booking(resources_service, world, realm):
    made = await resource(resources_service, world)
    place = await slot(resources_service, made)
    same = key()
    first = await resources_service.book(place["id"], world.booker(world.residents[0]), False, same, "r:1")
    again = await resources_service.book(place["id"], world.booker(world.residents[0]), False, same, "r:1")
    assert again["id"] == first["id"] and again["replayed"]
    with pytest.raises(ledger_errors.IdempotencyKeyReused):
        await resources_service.book(place["id"], world.booker(world.residents[1]), False, same, "r:1")


async def test_a_far_booking_lists_local_and_online_alternatives_a_local_one_none(resources_service, world, realm):
    far = await resource(resources_service, world, {"station_id": world.far.id}, title="远处体检")
    local = await resource(resources_service, world, {"station_id": world.neighbour.id}, title="邻村体检")
    online = await resource(resources_service, world, {"online": True}, title="线上问诊")
    await resource(resources_service, world, {"station_id": world.neighbour.id}, kind="legal", title="法律")
    far_slot = await slot(resources_service, far, start=next_monday(10))      # one week, whenever it runs
    local_slot = await slot(resources_service, local, start=next_monday(11))
    await slot(resources_service, online, start=next_monday(12))
    later = await resource(resources_service, world, {"station_id": world.neighbour.id}, title="下周体检")
    await slot(resources_service, later, start=next_monday(10) + timedelta(days=7))   # the week after: not offered
    booked = await resources_service.book(far_slot["id"], world.booker(world.residents[0]), False, key(), "r:1")
    assert booked["status"] == "booked"
    offered = [a for a in booked["alternatives"] if a["realm"] == realm]   # (other tests' shared ones too)
    assert [a["title"] for a in offered] == ["邻村体检", "线上问诊"]
    assert offered[0]["slot_id"] == local_slot["id"]
    near = await resources_service.book(local_slot["id"], world.booker(world.residents[0]), False, key(), "r:1")
    assert near["alternatives"] == []
    listed = await resources_service.near(realm, world.home, "health", None, None, None)
    assert [r["title"] for r in listed.items if r["realm"] == realm] == ["邻村体检", "下周体检", "线上问诊", "远处体检"]


async def test_a_realm_resource_is_not_bookable_from_another_realm(resources_service, world, ledger, engine):
    from tests.conftest import new_realm_code
    from tests.resources_support import make_world

    other = new_realm_code()
    await ledger.open_realm(other, "外区")
    stranger = await make_world(engine, ledger, other, residents=1)
    mine = await resource(resources_service, world)
    shared = await resource(resources_service, world, scope="shared", title="全省共享")
    for made, allowed in ((mine, False), (shared, True)):
        place = await slot(resources_service, made)
        attempt = resources_service.book(place["id"], stranger.booker(stranger.residents[0]), False, key(), "r:9")
        if allowed:
            assert (await attempt)["booker_realm"] == other
        else:
            with pytest.raises(errors.ResourceOutOfScope):
                await attempt
    with pytest.raises(errors.PriorityOtherRealm):
        priced = await resource(resources_service, world, scope="shared", priority_price=5)
        place = await slot(resources_service, priced)
        await resources_service.book(place["id"], stranger.booker(stranger.residents[0]), True, key(), "r:9")


async def test_the_database_refuses_overbooking_and_a_second_close(resources_service, world, owner_conn, app_conn, realm):
    made = await resource(resources_service, world, priority_price=PRIORITY_PRICE)
    place = await slot(resources_service, made, capacity=1)
    booked = await resources_service.book(place["id"], world.booker(world.residents[0]), True, key(), "r:1")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_conn.execute("UPDATE resource_slots SET booked = 0 WHERE id = %s", (place["id"],))
    app_conn.rollback()
    with pytest.raises(psycopg.errors.CheckViolation):   # a second booking past the service: the count refuses it
        app_conn.execute(
            "INSERT INTO reservations (realm, slot_id, resource_id, provider_id, booker_realm, booker_station_id, "
            "station_id, idempotency_key, request_hash, created_by) VALUES (%s, %s, %s, %s, %s, %s, %s, 'x', '\\x00', 't')",
            (realm, place["id"], made["id"], made["provider_id"], realm, world.home.id, world.home.id))
    app_conn.rollback()
    with pytest.raises(psycopg.errors.RaiseException, match="reservation_close_mismatch"):
        app_conn.execute("UPDATE reservations SET status = 'attended', points = 'captured', "
                         "close_entry_id = hold_entry_id, closed_at = now() WHERE id = %s", (booked["id"],))
    app_conn.rollback()
    await resources_service.cancel(booked["id"], True, "merchant:1")
    with pytest.raises(psycopg.errors.RaiseException, match="reservation_closed"):
        app_conn.execute("UPDATE reservations SET status = 'attended', points = 'captured' WHERE id = %s",
                         (booked["id"],))
    app_conn.rollback()
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_conn.execute("DELETE FROM reservations WHERE id = %s", (booked["id"],))
    app_conn.rollback()


async def test_the_audit_names_a_reservation_paid_twice(resources_service, world, ledger, realm, engine):
    made = await resource(resources_service, world, priority_price=PRIORITY_PRICE)
    place = await slot(resources_service, made, hours_ahead=1)
    booked = await resources_service.book(place["id"], world.booker(world.residents[0]), True, key(), "r:1")
    await resources_service.mark(booked["id"], "attended", "merchant:1")
    assert (await run_audit(engine, realm)).ok
    first, second = [(await ledger.owned_account(realm, "resident", "civic", resident_id=r))["id"]
                     for r in world.residents[:2]]
    from ledger.model import EntryDraft, Line

    await ledger.post(EntryDraft(realm=realm, kind="adjustment", created_by="test",
                                 reference=f"reservation:{booked['id']}",
                                 lines=(Line(first, -PRIORITY_PRICE), Line(second, PRIORITY_PRICE))))
    report = await run_audit(engine, realm)
    assert report.as_json()["failed"] == ["reservation_points_closed_once"]


async def test_counts_changed_behind_the_books_are_named(resources_service, world, realm, engine, owner_conn):
    """(A reservation itself cannot be closed behind the books: its CHECK ties status,
    points and close entry together even for the schema's owner.)"""
    from tests.integration.test_audit import tamper

    made = await resource(resources_service, world, priority_price=PRIORITY_PRICE)
    place = await slot(resources_service, made)
    booked = await resources_service.book(place["id"], world.booker(world.residents[0]), True, key(), "r:1")
    with pytest.raises(psycopg.errors.CheckViolation):
        tamper(owner_conn, "UPDATE reservations SET status = 'cancelled', points = 'released', closed_at = now() "
                           "WHERE realm = %s AND id = %s", realm, booked["id"])
    owner_conn.rollback()
    for change, undo, named in (
            ("UPDATE reservation_outstanding SET amount = amount - 1 WHERE realm = %s",
             "UPDATE reservation_outstanding SET amount = amount + 1 WHERE realm = %s",
             "reservation_holds_equal_held_reservations"),
            ("UPDATE resource_slots SET booked = booked - 1, priority_booked = priority_booked - 1 WHERE realm = %s",
             "UPDATE resource_slots SET booked = booked + 1, priority_booked = priority_booked + 1 WHERE realm = %s",
             "slot_places_equal_bookings")):
        tamper(owner_conn, change, realm)
        assert (await run_audit(engine, realm)).as_json()["failed"] == [named]
        tamper(owner_conn, undo, realm)   # put it back: the suite checks every hold account after each test
    assert (await run_audit(engine, realm)).ok


async def test_a_cancelled_slot_releases_every_booking_and_takes_no_more(resources_service, world, ledger, realm,
                                                                         engine):
    made = await resource(resources_service, world, priority_price=PRIORITY_PRICE)
    place = await slot(resources_service, made, capacity=10)
    booked = [await resources_service.book(place["id"], world.booker(r), True, key(), f"r:{r}")
              for r in world.residents[:2]]
    assert await hold_balance(ledger, realm) == 2 * PRIORITY_PRICE
    cancelled = await resources_service.cancel_slot(place, "merchant:1")
    assert cancelled["released"] == 2 and cancelled["booked"] == 0 and cancelled["cancelled_at"] is not None
    assert {(await resources_service.reservation(b["id"]))["status"] for b in booked} == {"provider_cancelled"}
    assert await hold_balance(ledger, realm) == 0
    assert [await balance(ledger, realm, r) for r in world.residents[:2]] == [STARTING_POINTS] * 2
    with pytest.raises(errors.SlotCancelled):
        await resources_service.book(place["id"], world.booker(world.residents[2]), False, key(), "r:3")
    assert (await resources_service.cancel_slot(place, "merchant:1"))["released"] == 0
    assert (await run_audit(engine, realm)).ok


async def test_the_database_refuses_a_booking_of_a_cancelled_slot(resources_service, world, realm, app_conn):
    made = await resource(resources_service, world)
    place = await slot(resources_service, made)
    await resources_service.cancel_slot(place, "merchant:1")
    with pytest.raises(psycopg.errors.RaiseException, match="slot_cancelled"):
        app_conn.execute(
            "INSERT INTO reservations (realm, slot_id, resource_id, provider_id, booker_realm, booker_station_id, "
            "station_id, idempotency_key, request_hash, created_by) VALUES (%s, %s, %s, %s, %s, %s, %s, 'y', '\\x00', 't')",
            (realm, place["id"], made["id"], made["provider_id"], realm, world.home.id, world.home.id))
    app_conn.rollback()


async def test_pages_end_without_a_cursor_and_refuse_another_lists(resources_service, world):
    made = await resource(resources_service, world)
    for hours in (30, 31, 32):
        await slot(resources_service, made, hours_ahead=hours)
    first = await resources_service.slots(made, None, 2)
    assert len(first.items) == 2 and first.next_cursor is not None
    last = await resources_service.slots(made, first.next_cursor, 2)
    assert len(last.items) == 1 and last.next_cursor is None          # no cursor to an empty page
    exact = await resources_service.slots(made, None, 3)
    assert len(exact.items) == 3 and exact.next_cursor is None
    for other_list in (resources_service.reservations({"kind": "realm", "realm": world.realm}, None,
                                                      first.next_cursor, 2),
                       resources_service.providers(world.realm, first.next_cursor, 2),
                       resources_service.near(world.realm, None, None, None, first.next_cursor, 2)):
        with pytest.raises(ledger_errors.InvalidCursor):
            await other_list


async def test_the_booker_hears_of_its_booking_and_its_close_once(resources_service, world, engine):
    from sqlalchemy import text

    made = await resource(resources_service, world, priority_price=PRIORITY_PRICE)
    place = await slot(resources_service, made)
    resident = world.residents[0]
    booked = await resources_service.book(place["id"], world.booker(resident), True, key(), f"resident:{resident}")
    await resources_service.cancel(booked["id"], False, f"resident:{resident}")
    await resources_service.cancel(booked["id"], False, f"resident:{resident}")     # a retry: no second event
    async with engine.connect() as conn:
        events = (await conn.execute(text(
            "SELECT type, resident_id, payload FROM events WHERE realm = :realm AND subject_id = :id "
            "AND type LIKE 'reservation.%' ORDER BY id"), {"realm": world.realm, "id": booked["id"]})).all()
    assert [(e.type, e.resident_id) for e in events] == [("reservation.booked", resident),
                                                         ("reservation.cancelled", resident)]
    assert events[0].payload["reservation_id"] == events[1].payload["reservation_id"] == booked["id"]
