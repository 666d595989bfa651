"""Awards through the set-based path: amounts, repeats, caps, budgets, rule versions."""
from __future__ import annotations

import pytest

from earning import errors, model
from ledger import errors as ledger_errors
from tests.integration.earning_fixtures import add_resident, make_place, past_activity, yesterday_evening


async def balance(ledger, realm, resident_id, asset="civic"):
    return (await ledger.owned_account(realm, "resident", asset, resident_id=resident_id))["balance"]


async def test_attendance_awards_the_rule_and_records_it(earning, ledger, realm):
    place = await make_place(earning, realm)
    activity = await past_activity(earning, place)
    outcome = await earning.record_attendance(
        activity, [(place.residents[0], 125), (place.residents[1], 59)], "test", "k1")
    first, second = outcome.results
    assert first["points"] == 20 + 2 * 2 and first["rule_version"] == 1
    assert second["points"] == 20
    assert await balance(ledger, realm, place.residents[0]) == 24
    entry = await ledger.entry(first["entry_id"])
    assert entry["kind"] == "earn"
    budgets = {b["asset"]: b for b in await earning.budgets(realm)}
    assert budgets["civic"]["remaining"] == 10_000 - 44
    assert budgets["civic"]["spent_total"] == 44 and budgets["civic"]["funded_total"] == 10_000


async def test_a_repeat_returns_the_first_award(earning, ledger, realm):
    place = await make_place(earning, realm)
    activity = await past_activity(earning, place)
    first = await earning.record_attendance(activity, [(place.residents[0], 60)], "test", "a")
    again = await earning.record_attendance(activity, [(place.residents[0], 240)], "test", "b")
    assert again.results[0]["entry_id"] == first.results[0]["entry_id"]
    assert again.results[0]["replayed"] is True
    assert again.results[0]["points"] == first.results[0]["points"] == 22
    assert await balance(ledger, realm, place.residents[0]) == 22


async def test_same_key_replays_and_other_body_is_refused(earning, realm):
    place = await make_place(earning, realm)
    activity = await past_activity(earning, place)
    first = await earning.record_attendance(activity, [(place.residents[0], 60)], "test", "same")
    again = await earning.record_attendance(activity, [(place.residents[0], 60)], "test", "same")
    assert again.replayed and again.results == first.results
    with pytest.raises(ledger_errors.IdempotencyKeyReused):
        await earning.record_attendance(activity, [(place.residents[1], 60)], "test", "same")


async def test_per_record_errors_leave_other_records_awarded(earning, ledger, realm):
    place = await make_place(earning, realm)
    activity = await past_activity(earning, place)
    outcome = await earning.record_attendance(activity, [
        (place.residents[0], 60), (place.residents[0], 30), (999_999_999, 60),
        (place.residents[1], 0), (place.residents[2], 2000)], "test", "errs")
    codes = [r.get("error") for r in outcome.results]
    assert codes == [None, "duplicate_record", "unknown_resident", "minutes_out_of_range",
                     "minutes_out_of_range"]
    assert await balance(ledger, realm, place.residents[0]) == 22
    assert await balance(ledger, realm, place.residents[1]) == 0


async def test_resident_of_another_realm_is_unknown(earning, ledger, realm):
    from tests.conftest import new_realm_code

    other = new_realm_code()
    await ledger.open_realm(other, "别的区")
    there = await make_place(earning, other, residents=1, fund=0)
    place = await make_place(earning, realm)
    activity = await past_activity(earning, place)
    outcome = await earning.record_attendance(activity, [(there.residents[0], 60)], "test", "x")
    assert outcome.results[0]["error"] == "unknown_resident"


async def test_daily_cap_limits_points_per_resident_and_type(earning, ledger, realm):
    place = await make_place(earning, realm)
    await earning.change_rule(realm, "volunteering", model.Rule("civic", 20, 2, 240, 50), "test")
    resident, evening = place.residents[0], yesterday_evening()
    results = []
    for index in range(3):
        activity = await past_activity(earning, place, hours_ago=3 + index, before=evening)
        outcome = await earning.record_attendance(activity, [(resident, 60)], "test", f"cap{index}")
        results.append(outcome.results[0])
    assert [r.get("points") for r in results] == [22, 22, 6]
    assert all(r.get("rule_version") == 2 for r in results)
    activity = await past_activity(earning, place, hours_ago=6, before=evening)
    outcome = await earning.record_attendance(activity, [(resident, 60)], "test", "cap-over")
    assert outcome.results[0]["error"] == "daily_cap_reached"
    assert await balance(ledger, realm, resident) == 50


async def test_a_record_the_rule_pays_nothing_is_no_points_earned(earning, ledger, realm):
    """No base points and less than a full hour: 0 points, which is not the daily cap."""
    place = await make_place(earning, realm)
    await earning.change_rule(realm, "volunteering", model.Rule("civic", 0, 10, 240, 50), "test")
    activity = await past_activity(earning, place)
    outcome = await earning.record_attendance(
        activity, [(place.residents[0], 59), (place.residents[1], 60)], "test", "zero")
    assert outcome.results[0]["error"] == errors.NoPointsEarned.code == "no_points_earned"
    assert outcome.results[1]["points"] == 10
    assert await balance(ledger, realm, place.residents[0]) == 0


async def test_rule_change_keeps_past_awards_version(earning, realm):
    place = await make_place(earning, realm)
    before = await earning.record_attendance(await past_activity(earning, place),
                                             [(place.residents[0], 60)], "test", "v1")
    changed = await earning.change_rule(realm, "volunteering", model.Rule("civic", 30, 3, 240, 100), "t")
    assert changed["version"] == 2 and [v["version"] for v in changed["versions"]] == [1, 2]
    after = await earning.record_attendance(await past_activity(earning, place, hours_ago=4),
                                            [(place.residents[1], 60)], "test", "v2")
    assert before.results[0]["rule_version"] == 1 and before.results[0]["points"] == 22
    assert after.results[0]["rule_version"] == 2 and after.results[0]["points"] == 33
    page = await earning.awards({"realm": realm, "id": place.residents[0]}, None, None)
    assert page.items[0]["rule_version"] == 1


async def test_budget_refuses_awards_past_its_balance(earning, ledger, realm):
    place = await make_place(earning, realm, fund=50)
    activity = await past_activity(earning, place)
    outcome = await earning.record_attendance(
        activity, [(r, 60) for r in place.residents], "test", "budget")
    assert [r.get("points") or r["error"] for r in outcome.results] == [22, 22, "budget_exhausted"]
    budget = await ledger.system_account(realm, "budget", "civic")
    assert budget["balance"] == 6


@pytest.mark.parametrize("fund, paid, left", [
    (43, [22, "budget_exhausted"], 21),   # the second award overruns the budget by one point
    (44, [22, 22], 0),                    # the second award takes the budget's last point
])
async def test_the_budget_pays_to_its_last_point_and_not_one_more(earning, ledger, realm, fund, paid, left):
    place = await make_place(earning, realm, residents=2, fund=fund)
    activity = await past_activity(earning, place)
    outcome = await earning.record_attendance(
        activity, [(r, 60) for r in place.residents], "test", "edge")
    assert [r.get("points") or r["error"] for r in outcome.results] == paid
    budget = await ledger.system_account(realm, "budget", "civic")
    assert budget["balance"] == left


async def test_agri_rule_pays_from_the_agri_budget(earning, ledger, realm):
    place = await make_place(earning, realm)
    await earning.create_activity_type(realm, "agri_training", "农技培训",
                                       model.Rule("agri", 15, 2, 240, 100), "test")
    activity = await past_activity(earning, place, activity_type="agri_training")
    refused = await earning.record_attendance(activity, [(place.residents[0], 60)], "test", "agri0")
    assert refused.results[0]["error"] == "budget_exhausted"
    await earning.fund_budget(realm, "agri", 100, "test", "fund-agri")
    outcome = await earning.record_attendance(activity, [(place.residents[0], 60)], "test", "agri1")
    assert outcome.results[0]["points"] == 17 and outcome.results[0]["asset"] == "agri"
    assert await balance(ledger, realm, place.residents[0], "agri") == 17
    assert await balance(ledger, realm, place.residents[0], "civic") == 0


async def test_bad_activities_are_refused(earning, realm):
    from datetime import datetime, timedelta, timezone

    place = await make_place(earning, realm, fund=0)
    now = datetime.now(timezone.utc)
    with pytest.raises(errors.EndBeforeStart):
        await earning.create_activity(realm, "talk", place.station_id, "t", now, now - timedelta(hours=1), "x")
    with pytest.raises(errors.UnknownActivityType):
        await earning.create_activity(realm, "juggling", place.station_id, "t", now, now + timedelta(hours=1), "x")
    future = await earning.create_activity(realm, "talk", place.station_id, "t",
                                           now + timedelta(hours=1), now + timedelta(hours=2), "x")
    with pytest.raises(errors.ActivityNotStarted):
        await earning.record_attendance(future, [(place.residents[0], 60)], "test", "early")


async def test_new_resident_gets_one_account_per_asset(earning, ledger, realm):
    place = await make_place(earning, realm, residents=0, fund=0)
    resident_id = await add_resident(earning, realm, place.station_id)
    resident = await earning.resident(resident_id)
    assert sorted(a["asset"] for a in resident["accounts"]) == ["agri", "civic"]
    with pytest.raises(errors.ResidentExists):
        await earning.register_resident(realm, place.station_id, resident["code"])


async def test_database_formula_matches_the_pure_rule(earning, realm):
    minutes = [1, 59, 60, 61, 119, 120, 239, 240, 241, 300, 1440]
    place = await make_place(earning, realm, residents=len(minutes), fund=100_000)
    rule = model.Rule("civic", 7, 3, 180, 10_000)
    await earning.create_activity_type(realm, "mixed", "混合", rule, "test")
    activity = await past_activity(earning, place, activity_type="mixed")
    outcome = await earning.record_attendance(activity, list(zip(place.residents, minutes)), "t", "f")
    assert [r["points"] for r in outcome.results] == [model.award_points(rule, m) for m in minutes]


async def test_minutes_past_the_activity_length_are_refused_by_bulk_and_import(earning, realm):
    from datetime import datetime, timedelta, timezone

    place = await make_place(earning, realm)
    starts = datetime.now(timezone.utc) - timedelta(hours=3)
    activity = await earning.create_activity(realm, "talk", place.station_id, "一小时宣讲", starts,
                                             starts + timedelta(hours=1), "test")
    outcome = await earning.record_attendance(
        activity, [(place.residents[0], 60), (place.residents[1], 61)], "t", "len")
    assert [r.get("error") for r in outcome.results] == [None, "minutes_out_of_range"]
    rows = [model.CsvRow(2, model.Record(2, activity["id"], place.residents[2], 61))]
    assert (await earning.import_chunk(rows, "t"))[0]["error"] == "minutes_out_of_range"
