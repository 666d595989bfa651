"""Real concurrency: many organizers recording at once, each request its own committed
transaction on its own connection."""
from __future__ import annotations

import asyncio

from earning import model
from tests.integration.earning_fixtures import add_resident, make_place, past_activity

ORGANIZERS = 12


async def test_budget_is_never_overspent_and_points_equal_spending(earning, ledger, realm):
    place = await make_place(earning, realm, residents=0, fund=1_000)
    residents = [await add_resident(earning, realm, place.station_id) for _ in range(60)]
    activities = [await past_activity(earning, place, hours_ago=3 + i % 3) for i in range(ORGANIZERS)]

    async def organizer(index: int):
        attendees = [(r, 60 + 60 * (index % 3)) for r in residents[index::3]]
        return await earning.record_attendance(activities[index], attendees, "org", f"c{index}")

    outcomes = await asyncio.gather(*(organizer(i) for i in range(ORGANIZERS)))
    awarded = sum(r["points"] for o in outcomes for r in o.results if "error" not in r)
    refused = [r["error"] for o in outcomes for r in o.results if "error" in r]
    budget = await ledger.system_account(realm, "budget", "civic")
    assert budget["balance"] >= 0
    assert awarded == 1_000 - budget["balance"]
    assert refused and set(refused) <= {"budget_exhausted", "daily_cap_reached"}
    balances = [(await ledger.owned_account(realm, "resident", "civic", resident_id=r))["balance"]
                for r in residents]
    assert sum(balances) == awarded
    totals = {b["asset"]: b for b in await earning.budgets(realm)}["civic"]
    assert totals["spent_total"] == awarded and totals["remaining"] == budget["balance"]


async def test_duplicate_attendance_under_concurrency_awards_once(earning, ledger, realm):
    place = await make_place(earning, realm, residents=2)
    activity = await past_activity(earning, place)
    attendees = [(place.residents[0], 90), (place.residents[1], 30)]
    outcomes = await asyncio.gather(*(
        earning.record_attendance(activity, attendees, "org", f"dup{i}") for i in range(ORGANIZERS)))
    entry_ids = {tuple(r["entry_id"] for r in o.results) for o in outcomes}
    assert len(entry_ids) == 1
    assert sum(1 for o in outcomes for r in o.results if not r["replayed"]) == 2
    assert (await ledger.owned_account(realm, "resident", "civic",
                                       resident_id=place.residents[0]))["balance"] == 22


async def test_same_key_under_concurrency_has_one_effect(earning, ledger, realm):
    place = await make_place(earning, realm, residents=3)
    activity = await past_activity(earning, place)
    attendees = [(r, 60) for r in place.residents]
    outcomes = await asyncio.gather(*(
        earning.record_attendance(activity, attendees, "org", "one-key") for _ in range(8)))
    assert len({tuple(r["entry_id"] for r in o.results) for o in outcomes}) == 1
    budget = await ledger.system_account(realm, "budget", "civic")
    assert budget["balance"] == 10_000 - 3 * 22


async def test_daily_cap_holds_under_concurrency(earning, ledger, realm):
    place = await make_place(earning, realm, residents=1)
    await earning.change_rule(realm, "talk", model.Rule("civic", 10, 2, 240, 30), "test")
    resident = place.residents[0]
    activities = [await past_activity(earning, place, activity_type="talk", hours_ago=3)
                  for _ in range(ORGANIZERS)]
    await asyncio.gather(*(earning.record_attendance(a, [(resident, 60)], "org", f"cap{i}")
                           for i, a in enumerate(activities)))
    account = await ledger.owned_account(realm, "resident", "civic", resident_id=resident)
    assert account["balance"] == 30
