"""Check-in at the venue and closing: signed rotating codes, refusals that change
nothing, minutes clipped to the activity, awards exactly once however often close runs."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from earning import errors, model
from earning.service import Earning
from earning.venue import Venue
from tests.conftest import new_realm_code
from tests.integration.earning_fixtures import make_place


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def move(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
async def desk(engine, ledger, realm):
    """An activity that started 10 minutes ago and lasts an hour; three residents."""
    earning = Earning(engine, ledger)
    place = await make_place(earning, realm, residents=3)
    starts = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=10)
    activity = await earning.create_activity(realm, "volunteering", place.station_id, "敬老院服务", starts,
                                             starts + timedelta(hours=1), "test")
    clock = Clock(starts - timedelta(minutes=5))
    return earning, Venue(engine, clock=clock), clock, place, activity


async def scan(venue: Venue, activity: dict, resident_id: int, code: str, direction: str | None = None) -> dict:
    activity_id, parsed = await venue.activity_of_code(code)
    assert activity_id == activity["id"]
    await venue.check_venue_code(activity, parsed)
    return await venue.check_in_or_out(activity, resident_id, "test", direction)


async def test_in_then_out_gives_minutes_clipped_to_the_activity(desk):
    earning, venue, clock, place, activity = desk
    resident = place.residents[0]
    first = await scan(venue, activity, resident, (await venue.venue_code(activity))["code"])
    assert first["action"] == "in"
    clock.move(minutes=80)                       # past the end: minutes stop there
    second = await scan(venue, activity, resident, (await venue.venue_code(activity))["code"])
    assert second["action"] == "out" and second["minutes"] == 60


async def test_refusals_change_nothing(desk, engine, ledger):
    earning, venue, clock, place, activity = desk
    code = (await venue.venue_code(activity))["code"]
    forged = code[:-2] + ("AA" if not code.endswith("AA") else "BB")
    with pytest.raises(errors.CheckinCodeInvalid):
        await scan(venue, activity, place.residents[0], forged)
    tampered = code.replace(f".{activity['id']}.", f".{activity['id'] + 1}.")
    _, parsed = await venue.activity_of_code(tampered)
    with pytest.raises(errors.CheckinCodeInvalid):
        await venue.check_venue_code(activity, parsed)
    clock.move(seconds=2 * model.CHECKIN_CODE_STEP_S)
    with pytest.raises(errors.CheckinCodeExpired):
        await scan(venue, activity, place.residents[0], code)
    with pytest.raises(errors.NotCheckedIn):
        await venue.check_in_or_out(activity, place.residents[0], "test", "out")
    await venue.check_in_or_out(activity, place.residents[0], "test")
    with pytest.raises(errors.AlreadyCheckedIn):
        await venue.check_in_or_out(activity, place.residents[0], "test", "in")
    with pytest.raises(errors.AlreadyCheckedIn):                 # the same scan twice, at once
        await venue.check_in_or_out(activity, place.residents[0], "test")

    other_realm = new_realm_code()
    await ledger.open_realm(other_realm, "外县")
    stranger = (await make_place(Earning(engine, ledger), other_realm, residents=1, fund=0)).residents[0]
    with pytest.raises(errors.CheckinOtherRealm):
        await venue.check_in_or_out(activity, stranger, "test")
    clock.now = activity["ends_at"] + timedelta(minutes=16)
    with pytest.raises(errors.CheckinOutsideWindow):
        await venue.check_in_or_out(activity, place.residents[1], "test")
    with pytest.raises(errors.CheckinOutsideWindow):
        await venue.venue_code(activity)
    clock.now = activity["starts_at"] - timedelta(minutes=16)
    with pytest.raises(errors.CheckinOutsideWindow):
        await venue.check_in_or_out(activity, place.residents[1], "test")
    listed = await venue.checkins(activity)
    assert [(row["resident_id"], row["checked_out_at"]) for row in listed] == [(place.residents[0], None)]


async def test_a_personal_code_or_a_typed_code_checks_a_resident_in(desk):
    earning, venue, clock, place, activity = desk
    resident = await earning.resident(place.residents[0])
    personal = (await venue.personal_code(resident))["code"]
    assert await venue.resident_of_code(activity, personal) == resident["id"]
    assert await venue.resident_of_code(activity, resident["code"]) == resident["id"]
    with pytest.raises(errors.CheckinCodeInvalid):
        await venue.resident_of_code(activity, personal[:-1] + ("A" if personal[-1] != "A" else "B"))
    with pytest.raises(errors.UnknownResident):
        await venue.resident_of_code(activity, "NOBODY-HERE")


async def test_close_awards_once_even_twice_at_once_with_the_job(desk, engine, ledger):
    earning, venue, clock, place, activity = desk
    stayed, left_early, forgot = place.residents
    for resident in place.residents:
        await venue.check_in_or_out(activity, resident, "test")
    clock.move(minutes=30)
    await venue.check_in_or_out(activity, left_early, "test")
    clock.move(minutes=40)
    await venue.check_in_or_out(activity, stayed, "test")
    clock.now = activity["ends_at"] + timedelta(seconds=model.CLOSE_GRACE_S + 1)
    jobs = [venue.close(activity, "organizer"), venue.close(activity, "organizer"), venue.close_ended(activity["realm"])]
    first, second, job = await asyncio.gather(*jobs)
    summaries = [first, second, *[s for s in job if s["activity_id"] == activity["id"]]]
    assert sorted(s["replayed"] for s in summaries) == [False, True, True][:len(summaries)]
    fresh = next(s for s in summaries if not s["replayed"])
    by_resident = {r["resident_id"]: r for r in fresh["results"]}
    assert set(by_resident) == {stayed, left_early}
    assert by_resident[stayed]["points"] == 20 + 2 * 1       # volunteering: 20, 60 minutes: one hour
    assert by_resident[left_early]["points"] == 20           # 25 minutes: no full hour
    assert [row["resident_id"] for row in fresh["no_checkout"]] == [forgot]
    awards = (await earning.awards(await earning.resident(stayed), None, None)).items
    assert [(a["activity_id"], a["minutes"]) for a in awards] == [(activity["id"], 60)]
    assert (await earning.activity(activity["id"]))["status"] == "closed"
    with pytest.raises(errors.ActivityNotOpen):
        await venue.check_in_or_out(activity, forgot, "test")
