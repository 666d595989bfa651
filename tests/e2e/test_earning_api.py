"""Earning over HTTP: places, residents, activities, bulk attendance, budgets, honours,
and who may do what."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from api.auth import create_token
from tests.e2e.conftest import bearer


def activity_year(activity: dict) -> int:
    """The year of the activity's day in the realm's zone (its awards' period)."""
    return datetime.fromisoformat(activity["starts_at"]).astimezone(ZoneInfo("Asia/Shanghai")).year


def iso(delta_hours: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(hours=delta_hours)).isoformat()


@pytest.fixture
async def site(client, tokens, engine):
    """A town, an urban and a rural station, two residents, a funded budget."""
    realm, admin = tokens.realm, tokens.admin
    town = (await client.post("/v1/towns", json={"realm": realm, "name": "岳麓街道"}, headers=admin)).json()
    urban = (await client.post("/v1/stations", json={"realm": realm, "town_id": town["id"], "name": "桃子湖社区",
                                                      "setting": "urban"}, headers=admin)).json()
    rural = (await client.post("/v1/stations", json={"realm": realm, "town_id": town["id"], "name": "莲花村",
                                                      "setting": "rural"}, headers=admin)).json()
    residents = []
    for code in ("A0001", "A0002"):
        made = await client.post("/v1/residents", json={"realm": realm, "station_id": urban["id"],
                                                         "code": f"{code}{realm}", "display_name": "张三"},
                                 headers=tokens.organizer)
        assert made.status_code == 201, made.text
        residents.append(made.json())
    funded = await client.post("/v1/budgets/funding", json={"realm": realm, "asset": "civic", "amount": 1000},
                               headers={**admin, "Idempotency-Key": "fund-1"})
    assert funded.status_code == 201, funded.text
    station_organizer = bearer(await create_token(engine, "organizer", realm, station_id=urban["id"]))
    rural_organizer = bearer(await create_token(engine, "organizer", realm, station_id=rural["id"]))
    resident_token = bearer(await create_token(engine, "resident", realm, resident_id=residents[0]["id"]))
    return {"urban": urban, "rural": rural, "residents": residents, "station_organizer": station_organizer,
            "rural_organizer": rural_organizer, "resident": resident_token}


async def make_activity(client, headers, realm, station_id, starts=-3.0, kind="volunteering"):
    return await client.post("/v1/activities", json={
        "realm": realm, "activity_type": kind, "station_id": station_id, "title": "清扫街道",
        "starts_at": iso(starts), "ends_at": iso(starts + 4)}, headers=headers)


async def test_bulk_attendance_is_idempotent_and_reports_per_record(client, tokens, site):
    activity = (await make_activity(client, site["station_organizer"], tokens.realm, site["urban"]["id"])).json()
    resident_ids = [r["id"] for r in site["residents"]]
    body = {"records": [{"resident_id": resident_ids[0], "minutes": 120},
                        {"resident_id": resident_ids[1], "minutes": 0},
                        {"resident_id": resident_ids[0], "minutes": 60}]}
    headers = {**site["station_organizer"], "Idempotency-Key": "att-1"}
    path = f"/v1/activities/{activity['id']}/attendance"
    first = await client.post(path, json=body, headers=headers)
    assert first.status_code == 200, first.text
    results = first.json()["results"]
    assert results[0]["points"] == 24 and results[0]["entry_id"] > 0
    assert [r.get("error") for r in results] == [None, "minutes_out_of_range", "duplicate_record"]
    again = await client.post(path, json=body, headers=headers)
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    other = await client.post(path, json={"records": body["records"][:1]}, headers=headers)
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    missing_key = await client.post(path, json=body, headers=site["station_organizer"])
    assert missing_key.json()["code"] == "idempotency_key_required"
    budgets = (await client.get(f"/v1/budgets?realm={tokens.realm}", headers=tokens.auditor)).json()
    civic = next(b for b in budgets["items"] if b["asset"] == "civic")
    assert (civic["funded_total"], civic["spent_total"], civic["remaining"]) == (1000, 24, 976)


async def test_bad_input_gets_specific_codes(client, tokens, site):
    realm, urban = tokens.realm, site["urban"]["id"]
    unknown_type = await make_activity(client, tokens.admin, realm, urban, kind="juggling")
    assert unknown_type.status_code == 422 and unknown_type.json()["code"] == "unknown_activity_type"
    backwards = await client.post("/v1/activities", json={
        "realm": realm, "activity_type": "talk", "station_id": urban, "title": "t",
        "starts_at": iso(-1), "ends_at": iso(-2)}, headers=tokens.admin)
    assert backwards.json()["code"] == "end_before_start"
    future = (await make_activity(client, tokens.admin, realm, urban, starts=5)).json()
    early = await client.post(f"/v1/activities/{future['id']}/attendance",
                              json={"records": [{"resident_id": site["residents"][0]["id"], "minutes": 60}]},
                              headers={**tokens.admin, "Idempotency-Key": "early"})
    assert early.status_code == 422 and early.json()["code"] == "activity_not_started"
    past = (await make_activity(client, tokens.admin, realm, urban)).json()
    too_many = await client.post(f"/v1/activities/{past['id']}/attendance",
                                 json={"records": [{"resident_id": 1, "minutes": 60}] * 1001},
                                 headers={**tokens.admin, "Idempotency-Key": "many"})
    assert too_many.json()["code"] == "too_many_records"
    bad_station = await client.post("/v1/stations", json={"realm": realm, "town_id": site["urban"]["town_id"],
                                                          "name": "x", "setting": "suburban"}, headers=tokens.admin)
    assert bad_station.json()["code"] == "invalid_station"
    negative = await client.post("/v1/budgets/funding", json={"realm": realm, "asset": "civic", "amount": -5},
                                 headers={**tokens.admin, "Idempotency-Key": "neg"})
    assert negative.status_code == 422


async def test_scopes_per_role(client, tokens, site):
    realm, urban, rural = tokens.realm, site["urban"]["id"], site["rural"]["id"]
    assert (await make_activity(client, site["rural_organizer"], realm, urban)).status_code == 403
    assert (await make_activity(client, site["station_organizer"], realm, rural)).status_code == 403
    assert (await make_activity(client, tokens.organizer, realm, rural)).status_code == 201
    activity = (await make_activity(client, site["station_organizer"], realm, urban)).json()
    record = {"records": [{"resident_id": site["residents"][0]["id"], "minutes": 60}]}
    path = f"/v1/activities/{activity['id']}/attendance"
    for headers in (site["rural_organizer"], tokens.auditor, tokens.merchant, site["resident"],
                    tokens.other_realm_admin):
        refused = await client.post(path, json=record, headers={**headers, "Idempotency-Key": "s"})
        assert refused.status_code == 403, headers
    assert (await client.post(path, json=record, headers={**tokens.organizer, "Idempotency-Key": "s"})).status_code == 200
    resident_path = f"/v1/residents/{site['residents'][0]['id']}"
    other_path = f"/v1/residents/{site['residents'][1]['id']}"
    assert (await client.get(resident_path, headers=site["resident"])).status_code == 200
    assert (await client.get(other_path, headers=site["resident"])).status_code == 403
    assert (await client.get(resident_path, headers=site["rural_organizer"])).status_code == 403
    history = await client.get(f"{resident_path}/awards", headers=site["resident"])
    assert history.json()["items"][0]["points"] == 22
    assert (await client.get(f"/v1/budgets?realm={realm}", headers=tokens.organizer)).status_code == 403
    assert (await client.post("/v1/budgets/funding", json={"realm": realm, "asset": "civic", "amount": 5},
                              headers={**tokens.auditor, "Idempotency-Key": "f"})).status_code == 403
    listed = await client.get(f"/v1/residents?realm={realm}", headers=site["rural_organizer"])
    assert listed.status_code == 200 and listed.json()["items"] == []
    register_elsewhere = await client.post("/v1/residents", json={"realm": realm, "station_id": urban,
                                                                  "code": f"B1{realm}"},
                                           headers=site["rural_organizer"])
    assert register_elsewhere.status_code == 403


async def test_a_station_organizer_reads_only_its_stations_activity_and_award_history(client, tokens, site):
    realm, urban = tokens.realm, site["urban"]["id"]
    activity = (await make_activity(client, site["station_organizer"], realm, urban)).json()
    resident = site["residents"][0]
    attended = await client.post(f"/v1/activities/{activity['id']}/attendance",
                                 json={"records": [{"resident_id": resident["id"], "minutes": 60}]},
                                 headers={**site["station_organizer"], "Idempotency-Key": "read-scope"})
    assert attended.status_code == 200, attended.text
    paths = [f"/v1/activities/{activity['id']}", f"/v1/residents/{resident['id']}/awards",
             f"/v1/residents/{resident['id']}/totals"]
    for path in paths:
        for headers in (site["station_organizer"], tokens.organizer, tokens.auditor, tokens.admin):
            assert (await client.get(path, headers=headers)).status_code == 200, path
        for headers in (site["rural_organizer"], tokens.other_realm_admin):
            refused = await client.get(path, headers=headers)
            assert refused.status_code == 403 and refused.json()["code"] == "forbidden", path
    neighbour = site["residents"][1]["id"]
    for suffix in ("awards", "totals"):
        assert (await client.get(f"/v1/residents/{resident['id']}/{suffix}", headers=site["resident"])).status_code == 200
        assert (await client.get(f"/v1/residents/{neighbour}/{suffix}", headers=site["resident"])).status_code == 403


async def test_rules_versions_and_leaderboard(client, tokens, site):
    realm = tokens.realm
    types = (await client.get(f"/v1/activity-types?realm={realm}", headers=tokens.organizer)).json()["items"]
    assert {t["code"]: t["base_points"] for t in types} == {"other": 5, "talk": 10, "training": 15,
                                                             "volunteering": 20}
    changed = await client.post(f"/v1/activity-types/talk/rules?realm={realm}",
                                json={"base_points": 12}, headers=tokens.admin)
    assert changed.status_code == 201 and changed.json()["version"] == 2
    assert (await client.post(f"/v1/activity-types/talk/rules?realm={realm}", json={"base_points": 12},
                              headers=tokens.organizer)).status_code == 403
    first, second = (r["id"] for r in site["residents"])
    activity = (await make_activity(client, tokens.admin, realm, site["urban"]["id"], kind="talk")).json()
    await client.post(f"/v1/activities/{activity['id']}/attendance",
                      json={"records": [{"resident_id": first, "minutes": 60},
                                        {"resident_id": second, "minutes": 180}]},
                      headers={**tokens.admin, "Idempotency-Key": "lb"})
    year = activity_year(activity)
    board = (await client.get(f"/v1/leaderboards?realm={realm}&period={year}",
                              headers=site["resident"])).json()
    # a resident sees ranks and totals, its own line marked, never another resident's id (issue 16)
    assert [(i["rank"], i["me"], i["points"]) for i in board["items"]] == [(1, False, 18), (2, True, 14)]
    assert all("resident_id" not in i and "code" not in i for i in board["items"])
    staff = (await client.get(f"/v1/leaderboards?realm={realm}&period={year}", headers=tokens.admin)).json()
    assert [(i["rank"], i["resident_id"], i["points"]) for i in staff["items"]] == [(1, second, 18), (2, first, 14)]
    by_hours = (await client.get(f"/v1/leaderboards?realm={realm}&order=hours&period={year}"
                                 f"&station={site['rural']['id']}", headers=tokens.auditor)).json()
    assert by_hours["items"] == []
    totals = (await client.get(f"/v1/residents/{second}/totals?period={year}",
                               headers=tokens.admin)).json()
    assert totals["minutes"] == 180 and totals["civic_points"] == 18


async def test_residents_page_with_an_opaque_cursor(client, tokens, site):
    realm = tokens.realm
    first = (await client.get(f"/v1/residents?realm={realm}&limit=1", headers=tokens.admin)).json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    second = (await client.get(f"/v1/residents?realm={realm}&limit=1&cursor={first['next_cursor']}",
                               headers=tokens.admin)).json()
    assert second["items"][0]["id"] > first["items"][0]["id"]
    bad = await client.get(f"/v1/residents?realm={realm}&cursor=xyz", headers=tokens.admin)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_cursor"


async def test_a_station_organizer_acts_only_for_its_own_residents(client, tokens, site, ledger):
    """Vouchers and rewards on a resident's behalf follow the organizer's station scope."""
    from ledger import model

    resident = site["residents"][0]  # registered at the urban station
    budget = await ledger.system_account(tokens.realm, "budget", "civic")
    wallet = await ledger.owned_account(tokens.realm, "resident", "civic", resident_id=resident["id"])
    await ledger.post(model.EntryDraft(tokens.realm, "earn", (model.Line(budget["id"], -50),
                                                              model.Line(wallet["id"], 50)), "test"))
    body = {"asset": "civic", "amount": 10, "resident_id": resident["id"]}
    elsewhere = await client.post("/v1/vouchers", json=body,
                                  headers={**site["rural_organizer"], "Idempotency-Key": "rural-1"})
    assert elsewhere.status_code == 403 and elsewhere.json()["code"] == "forbidden"
    here = await client.post("/v1/vouchers", json=body,
                             headers={**site["station_organizer"], "Idempotency-Key": "urban-1"})
    assert here.status_code == 201, here.text
    assert (await ledger.account(wallet["id"]))["balance"] == 40
