"""The transactional outbox (invariant 12): an event exists if and only if the change it
reports committed. A rolled-back change emits nothing; a committed one exactly one event,
also when many commit (and some fail) at once. The dispatcher fans each event out once."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from earning.service import Earning
from ledger import db, errors, model
from notify import model as notify_model
from notify import repository as notify_repository
from notify.service import Dispatcher, Inbox
from tests.integration.earning_fixtures import make_place

CONCURRENT_EARNS = 24


class RolledBack(Exception):
    pass


async def events_of(engine, realm: str, event_type: str | None = None) -> list[dict]:
    async with engine.connect() as conn:
        rows = await conn.execute(text(
            "SELECT id, type, subject_id, resident_id FROM events WHERE realm = :realm "
            "AND (CAST(:type AS text) IS NULL OR type = :type) ORDER BY id"), {"realm": realm, "type": event_type})
        return [dict(row._mapping) for row in rows]


async def earn_draft(ledger, realm: str, resident_id: int, points: int, key: str | None = None) -> model.EntryDraft:
    budget = await ledger.system_account(realm, "budget", "civic")
    wallet = await ledger.owned_account(realm, "resident", "civic", resident_id=resident_id)
    return model.EntryDraft(realm, "earn", (model.Line(budget["id"], -points), model.Line(wallet["id"], points)),
                            "test", idempotency_key=key)


@pytest.fixture
async def place(engine, ledger, realm):
    return await make_place(Earning(engine, ledger), realm, residents=3, fund=1_000)


async def test_a_rolled_back_earn_emits_nothing(engine, ledger, realm, place):
    draft = await earn_draft(ledger, realm, place.residents[0], 10)

    async def work(conn):
        await ledger.post_in(conn, draft)
        assert len(await events_of_conn(conn, realm)) == 1      # written in the same transaction ...
        raise RolledBack()

    with pytest.raises(RolledBack):
        await db.in_transaction(engine, work)
    assert await events_of(engine, realm, "points.earned") == []  # ... and gone with it


async def events_of_conn(conn, realm: str) -> list:
    return (await conn.execute(text("SELECT id FROM events WHERE realm = :realm AND type = 'points.earned'"),
                               {"realm": realm})).all()


async def test_a_committed_earn_emits_exactly_one_event(engine, ledger, realm, place):
    entry = await ledger.post(await earn_draft(ledger, realm, place.residents[0], 10, key="once"))
    again = await ledger.post(await earn_draft(ledger, realm, place.residents[0], 10, key="once"))  # a replay
    assert again["id"] == entry["id"]
    assert [(e["type"], e["subject_id"]) for e in await events_of(engine, realm, "points.earned")] == [
        ("points.earned", entry["id"])]


async def test_concurrent_earns_one_event_per_committed_entry(engine, ledger, realm, place):
    """24 earns of 100 points at once on a budget of 1,000: ten commit, the rest are refused
    (budget exhausted); exactly the committed entries have one event each."""
    drafts = [await earn_draft(ledger, realm, place.residents[i % 3], 100) for i in range(CONCURRENT_EARNS)]
    results = await asyncio.gather(*(ledger.post(draft) for draft in drafts), return_exceptions=True)
    committed = sorted(r["id"] for r in results if isinstance(r, dict))
    refused = [r for r in results if not isinstance(r, dict)]
    assert len(committed) == 10 and all(isinstance(r, errors.DomainError) for r in refused)
    assert sorted(e["subject_id"] for e in await events_of(engine, realm, "points.earned")) == committed


async def test_dispatch_fans_out_once_to_each_credited_resident(engine, ledger, realm, place):
    entry = await ledger.post(await earn_draft(ledger, realm, place.residents[1], 7))
    dispatcher = Dispatcher(engine)
    await dispatcher.dispatch_all()
    await dispatcher.dispatch_all()                                   # nothing left: no second line
    page = await Inbox(engine).page(realm, "resident", place.residents[1], None, None)
    earned = [item for item in page.items if item["type"] == "points.earned"]
    assert [(item["payload"]["entry_id"], item["payload"]["amount"]) for item in earned] == [(entry["id"], 7)]
    assert (await Inbox(engine).page(realm, "resident", place.residents[0], None, None)).items == []
    assert await Inbox(engine).unread(realm, "resident", place.residents[1]) == 1
    assert await Inbox(engine).mark_read(realm, "resident", place.residents[1], None) == 1
    assert await Inbox(engine).unread(realm, "resident", place.residents[1]) == 0


async def test_emit_writes_in_the_callers_transaction(engine, realm):
    async def emit_then_fail(conn):
        await notify_repository.emit(conn, realm, "reservation.booked", subject_id=5, resident_id=1)
        raise RolledBack()

    with pytest.raises(RolledBack):
        await db.in_transaction(engine, emit_then_fail)
    assert await events_of(engine, realm) == []

    async def emit_twice(conn):
        return [await notify_repository.emit(conn, realm, "rating.low", subject_id=9, dedup_key="rating.low:9")
                for _ in range(2)]

    first, second = await db.in_transaction(engine, emit_twice)
    assert first is not None and second is None
    assert [e["type"] for e in await events_of(engine, realm)] == ["rating.low"]


async def test_emit_refuses_an_unknown_type(engine, realm):
    from notify import errors as notify_errors

    with pytest.raises(notify_errors.UnknownEventType):
        await db.in_transaction(engine, lambda conn: notify_repository.emit(conn, realm, "nothing.happened"))


def test_the_application_cannot_forge_or_rewrite_an_event(app_conn, owner_conn, realm):
    import psycopg

    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_conn.execute("INSERT INTO events (realm, type) VALUES (%s, 'points.earned')", (realm,))
    app_conn.rollback()
    owner_conn.execute("SELECT notify_emit(%s, 'budget.low', payload => '{\"months\": 1}')", (realm,))
    owner_conn.commit()
    with pytest.raises(psycopg.errors.RaiseException):
        app_conn.execute("UPDATE events SET dispatched_at = now() WHERE realm = %s", (realm,))
        app_conn.execute("UPDATE events SET dispatched_at = now() WHERE realm = %s", (realm,))
    app_conn.rollback()
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_conn.execute("DELETE FROM events WHERE realm = %s", (realm,))


def test_the_catalogue_in_python_is_the_databases(owner_conn):
    rows = dict(owner_conn.execute("SELECT code, recipient FROM event_types").fetchall())
    assert rows == notify_model.EVENT_TYPES


ROUND_WAIT_S = 10.0


async def test_an_event_dispatched_out_of_order_is_not_claimed_again(engine, ledger, realm, place):
    """A dispatcher skips an event another transaction holds (SKIP LOCKED) and dispatches a
    later one; the next round starts at the skipped event and must not claim the later,
    dispatched one again (invariant 12: each event fans out once)."""
    dispatcher = Dispatcher(engine)
    await dispatcher.dispatch_all()                      # what other tests left
    for resident in place.residents[:2]:
        await ledger.post(await earn_draft(ledger, realm, resident, 3))
    first, second = [e["id"] for e in await events_of(engine, realm, "points.earned")][-2:]
    async with engine.begin() as holder:                # a dispatcher elsewhere holds the first event
        await holder.execute(text("SELECT 1 FROM events WHERE realm = :realm AND id = :id FOR UPDATE"),
                             {"realm": realm, "id": first})
        # the second only (bounded: a dispatcher that claims dispatched events loops forever)
        assert await asyncio.wait_for(dispatcher.dispatch_all(), ROUND_WAIT_S) == 1
    assert await asyncio.wait_for(dispatcher.dispatch_all(), ROUND_WAIT_S) == 1   # then the first, once
    for resident in place.residents[:2]:
        lines = (await Inbox(engine).page(realm, "resident", resident, None, None)).items
        assert len([line for line in lines if line["type"] == "points.earned"]) == 1
