"""Sign-ups: capacity is never exceeded, under concurrency or by a bypassing write; the
waitlist is promoted in order."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from earning import errors, model
from earning.service import Earning
from earning.venue import Venue
from tests.integration.earning_fixtures import make_place


async def future_activity(earning: Earning, realm: str, station_id: int, capacity: int | None) -> dict:
    starts = datetime.now(timezone.utc) + timedelta(days=1)
    return await earning.create_activity(realm, "talk", station_id, "垃圾分类宣讲", starts,
                                         starts + timedelta(hours=2), "test",
                                         model.ActivityDetails(place="村委会", capacity=capacity))


@pytest.fixture
async def small_engine(database_url):
    """Ten connections (the server is shared): a hundred sign-ups still contend for them."""
    from ledger import db

    engine = db.app_engine(database_url, pool_size=5)
    yield engine
    await engine.dispose()


async def test_a_hundred_residents_at_once_for_ten_places(engine, small_engine, ledger, realm):
    earning, venue = Earning(engine, ledger), Venue(small_engine)
    place = await make_place(earning, realm, residents=0, fund=0)
    residents = await earning.register_residents(realm, place.station_id, [f"S{realm}{n:03d}" for n in range(100)])
    activity = await future_activity(earning, realm, place.station_id, capacity=10)

    async def attempt(resident_id: int) -> str:
        try:
            return (await venue.sign_up(activity, resident_id, "test"))["status"]
        except errors.ActivityFull:
            return "activity_full"

    outcomes = await asyncio.gather(*(attempt(r) for r in residents))
    assert outcomes.count("confirmed") == 10
    assert outcomes.count("waitlisted") == model.WAITLIST_SIZE_MAX
    assert outcomes.count("activity_full") == 100 - 10 - model.WAITLIST_SIZE_MAX
    assert (await earning.activity(activity["id"]))["confirmed_count"] == 10

    listed = await venue.signups(activity)
    waitlist = [row["resident_id"] for row in listed if row["status"] == "waitlisted"]
    seated = [row["resident_id"] for row in listed if row["status"] == "confirmed"]
    cancelled = await venue.cancel_signup(activity, seated[0])
    assert cancelled["status"] == "cancelled" and cancelled["promoted_resident_id"] == waitlist[0]
    again = await venue.sign_up(activity, waitlist[0], "test")
    assert again["status"] == "confirmed"
    second = await venue.sign_up(activity, waitlist[1], "test")
    assert second["status"] == "waitlisted" and second["waitlist_place"] == 1
    assert (await earning.activity(activity["id"]))["confirmed_count"] == 10


LOCK_WAIT_POLLS_MAX = 400   # of 50 ms each: how long a sign-up may take to reach the lock


async def until_a_session_waits_for_a_lock(database_url: str) -> None:
    """Returns once some session of the test database waits for a lock (an event, not a
    duration: the polls only bound how long it may take to happen)."""
    with psycopg.connect(database_url, autocommit=True) as watcher:
        for _ in range(LOCK_WAIT_POLLS_MAX):
            if watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                               "AND wait_event_type = 'Lock'").fetchone()[0]:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("the sign-up never waited for the activity's row")


async def test_a_sign_up_waits_for_one_under_way_then_takes_the_waitlist(engine, ledger, realm, app_conn,
                                                                       database_url):
    """The activity's row lock: a sign-up while another holds the activity waits for it,
    then sees the last place taken and joins the waitlist (never `activity_full` from a
    seat it counted before the other committed)."""
    earning, venue = Earning(engine, ledger), Venue(engine)
    place = await make_place(earning, realm, residents=2, fund=0)
    activity = await future_activity(earning, realm, place.station_id, capacity=1)
    first, second = place.residents
    app_conn.execute("SELECT 1 FROM activities WHERE realm = %s AND id = %s FOR UPDATE", (realm, activity["id"]))
    app_conn.execute("INSERT INTO activity_signups (realm, activity_id, resident_id, status, created_by) "
                     "VALUES (%s, %s, %s, 'confirmed', 'test')", (realm, activity["id"], first))
    signing_up = asyncio.create_task(venue.sign_up(activity, second, "test"))
    await until_a_session_waits_for_a_lock(database_url)
    app_conn.commit()
    assert (await signing_up)["status"] == "waitlisted"
    assert (await earning.activity(activity["id"]))["confirmed_count"] == 1


async def test_the_database_refuses_an_eleventh_seat(engine, ledger, realm, app_conn):
    earning, venue = Earning(engine, ledger), Venue(engine)
    place = await make_place(earning, realm, residents=3, fund=0)
    activity = await future_activity(earning, realm, place.station_id, capacity=2)
    for resident_id in place.residents:
        await venue.sign_up(activity, resident_id, "test")
    with pytest.raises(psycopg.errors.CheckViolation, match="activities_capacity"):
        app_conn.execute("UPDATE activity_signups SET status = 'confirmed' WHERE realm = %s AND "
                         "activity_id = %s AND status = 'waitlisted'", (realm, activity["id"]))
    app_conn.rollback()
    with pytest.raises(psycopg.errors.CheckViolation, match="activities_capacity"):
        app_conn.execute("UPDATE activities SET capacity = 1 WHERE realm = %s AND id = %s", (realm, activity["id"]))
    app_conn.rollback()
    with pytest.raises(psycopg.errors.RaiseException, match="activity_status_invalid"):
        app_conn.execute("UPDATE activities SET status = 'draft' WHERE realm = %s AND id = %s", (realm, activity["id"]))
    app_conn.rollback()


async def test_sign_up_only_while_open_and_published(engine, ledger, realm):
    earning = Earning(engine, ledger)
    place = await make_place(earning, realm, residents=1, fund=0)
    starts = datetime.now(timezone.utc) + timedelta(days=2)
    draft = await earning.create_activity(realm, "talk", place.station_id, "草稿", starts, starts + timedelta(hours=1),
                                          "test", model.ActivityDetails(status="draft"))
    with pytest.raises(errors.ActivityNotOpen):
        await Venue(engine).sign_up(draft, place.residents[0], "test")
    later = Venue(engine, clock=lambda: starts + timedelta(minutes=1))
    published = await earning.set_activity_status(draft, "published")
    with pytest.raises(errors.SignupClosed):
        await later.sign_up(published, place.residents[0], "test")
    with pytest.raises(errors.SignupNotFound):
        await later.cancel_signup(published, place.residents[0])
