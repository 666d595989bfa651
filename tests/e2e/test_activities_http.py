"""Activities residents see and join, over HTTP: the upcoming list (their station, then
town, then realm), points on offer, sign-up and cancel, and who may do what."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from api.auth import create_token
from tests.e2e.conftest import bearer


def iso(delta_hours: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(hours=delta_hours)).isoformat()


@pytest.fixture
async def town(client, tokens, engine):
    """Two towns; in the first, a home station and a neighbour; residents at home."""
    realm, admin = tokens.realm, tokens.admin
    towns = [(await client.post("/v1/towns", json={"realm": realm, "name": name}, headers=admin)).json()
             for name in ("东镇", "西镇")]
    home, neighbour, far = [(await client.post("/v1/stations", json={
        "realm": realm, "town_id": t["id"], "name": name, "setting": "rural"}, headers=admin)).json()
        for t, name in ((towns[0], "家村"), (towns[0], "邻村"), (towns[1], "远村"))]
    residents = [(await client.post("/v1/residents", json={"realm": realm, "station_id": home["id"],
                                                            "code": f"H{n}{realm}"}, headers=admin)).json()
                 for n in range(3)]
    stranger = (await client.post("/v1/residents", json={"realm": realm, "station_id": far["id"],
                                                          "code": f"F0{realm}"}, headers=admin)).json()
    return {
        "home": home, "neighbour": neighbour, "far": far, "residents": residents, "stranger": stranger,
        "home_organizer": bearer(await create_token(engine, "organizer", realm, station_id=home["id"])),
        "far_organizer": bearer(await create_token(engine, "organizer", realm, station_id=far["id"])),
        "resident": bearer(await create_token(engine, "resident", realm, resident_id=residents[0]["id"])),
        "other": bearer(await create_token(engine, "resident", realm, resident_id=residents[1]["id"])),
    }


async def create(client, headers, realm, station_id, title, starts=24.0, **extra):
    made = await client.post("/v1/activities", json={
        "realm": realm, "activity_type": "talk", "station_id": station_id, "title": title,
        "starts_at": iso(starts), "ends_at": iso(starts + 2), **extra}, headers=headers)
    assert made.status_code == 201, made.text
    return made.json()


async def test_residents_see_what_is_on_nearest_first_with_points_on_offer(client, tokens, town):
    realm = tokens.realm
    far = await create(client, tokens.admin, realm, town["far"]["id"], "远处宣讲", starts=10)
    neighbour = await create(client, tokens.admin, realm, town["neighbour"]["id"], "邻村宣讲", starts=20)
    home = await create(client, town["home_organizer"], realm, town["home"]["id"], "本村宣讲", starts=30,
                        place="村委会二楼", description="带上身份证", capacity=20)
    await create(client, town["home_organizer"], realm, town["home"]["id"], "草稿", status="draft")
    await create(client, tokens.admin, realm, town["home"]["id"], "已结束", starts=-5)
    listed = await client.get("/v1/activities", params={"realm": realm, "upcoming": "true"}, headers=town["resident"])
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [item["id"] for item in items] == [home["id"], neighbour["id"], far["id"]]
    assert items[0]["points_on_offer"] == 10 + 2 * 2       # talk: 10, plus 2 per full hour
    assert items[0]["place"] == "村委会二楼" and items[0]["capacity"] == 20 and items[0]["my_signup"] is None
    by_type = await client.get("/v1/activities", params={"realm": realm, "type": "volunteering"},
                               headers=town["resident"])
    assert by_type.json()["items"] == []
    day = datetime.fromisoformat(far["starts_at"]).astimezone(timezone(timedelta(hours=8))).date().isoformat()
    on_day = await client.get("/v1/activities", params={"realm": realm, "date": day}, headers=town["resident"])
    assert far["id"] in [item["id"] for item in on_day.json()["items"]]
    desk = await client.get("/v1/activities", params={"realm": realm, "upcoming": "true"},
                            headers=town["home_organizer"])
    assert {item["title"] for item in desk.json()["items"]} == {"本村宣讲", "草稿", "已结束"}   # ended today: still on the desk
    for headers in (tokens.other_realm_admin, tokens.merchant, tokens.auditor):
        refused = await client.get("/v1/activities", params={"realm": realm, "upcoming": "true"}, headers=headers)
        assert refused.status_code == 403
    seen = await client.get(f"/v1/activities/{home['id']}", headers=town["resident"])
    assert seen.json()["points_on_offer"] == 14


async def test_sign_up_cancel_and_who_may(client, tokens, town):
    realm = tokens.realm
    activity = await create(client, town["home_organizer"], realm, town["home"]["id"], "小课堂", capacity=1)
    url = f"/v1/activities/{activity['id']}/signups"
    mine = await client.post(url, json={}, headers=town["resident"])
    assert mine.status_code == 201 and mine.json()["status"] == "confirmed"
    again = await client.post(url, json={}, headers=town["resident"])
    assert again.json()["status"] == "confirmed"
    by_organizer = await client.post(url, json={"resident_id": town["residents"][1]["id"]},
                                     headers=town["home_organizer"])
    assert by_organizer.status_code == 201 and by_organizer.json() == {
        "activity_id": activity["id"], "resident_id": town["residents"][1]["id"], "status": "waitlisted",
        "waitlist_place": 1, "promoted_resident_id": None}
    for headers, body in ((town["far_organizer"], {"resident_id": town["residents"][2]["id"]}),
                          (town["resident"], {"resident_id": town["residents"][2]["id"]}),
                          (tokens.auditor, {"resident_id": town["residents"][2]["id"]}),
                          (tokens.merchant, {}), (tokens.other_realm_admin, {"resident_id": 1})):
        assert (await client.post(url, json=body, headers=headers)).status_code == 403
    listed = await client.get(url, headers=town["home_organizer"])
    assert [row["status"] for row in listed.json()["items"]] == ["confirmed", "waitlisted"]
    assert (await client.get(url, headers=town["far_organizer"])).status_code == 403
    assert (await client.get(url, headers=town["resident"])).status_code == 403
    mine_url = f"{url}/{town['residents'][0]['id']}"
    assert (await client.delete(mine_url, headers=town["other"])).status_code == 403
    assert (await client.delete(mine_url, headers=town["far_organizer"])).status_code == 403
    cancelled = await client.delete(mine_url, headers=town["resident"])
    assert cancelled.status_code == 200
    assert cancelled.json()["promoted_resident_id"] == town["residents"][1]["id"]
    gone = await client.delete(mine_url, headers=town["resident"])
    assert gone.status_code == 404 and gone.json()["code"] == "signup_not_found"
    mine_list = await client.get(f"/v1/residents/{town['residents'][1]['id']}/activities", headers=town["other"])
    assert [(a["title"], a["my_signup"]) for a in mine_list.json()["items"]] == [("小课堂", "confirmed")]
    assert (await client.get(f"/v1/residents/{town['residents'][1]['id']}/activities",
                             headers=town["resident"])).status_code == 403


async def test_drafts_are_hidden_from_residents_until_published(client, tokens, town):
    realm = tokens.realm
    draft = await create(client, town["home_organizer"], realm, town["home"]["id"], "筹备中", status="draft")
    assert (await client.get(f"/v1/activities/{draft['id']}", headers=town["resident"])).status_code == 404
    refused = await client.post(f"/v1/activities/{draft['id']}/signups", json={}, headers=town["resident"])
    assert refused.status_code == 404
    status_url = f"/v1/activities/{draft['id']}/status"
    for headers in (town["far_organizer"], town["resident"], tokens.auditor):
        assert (await client.post(status_url, json={"status": "published"}, headers=headers)).status_code == 403
    published = await client.post(status_url, json={"status": "published"}, headers=town["home_organizer"])
    assert published.status_code == 200 and published.json()["status"] == "published"
    back = await client.post(status_url, json={"status": "draft"}, headers=town["home_organizer"])
    assert back.status_code == 422 and back.json()["code"] == "activity_status_invalid"
    assert (await client.post(f"/v1/activities/{draft['id']}/signups", json={},
                              headers=town["resident"])).status_code == 201
    cancelled = await client.post(status_url, json={"status": "cancelled"}, headers=tokens.admin)
    assert cancelled.json()["status"] == "cancelled"
    late = await client.post(f"/v1/activities/{draft['id']}/signups", json={}, headers=town["other"])
    assert late.status_code == 422 and late.json()["code"] == "activity_not_open"
