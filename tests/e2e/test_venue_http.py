"""The venue over HTTP: the desk's code, a resident's scan in and out, the organizer's
check-in by code, the live list, closing; who may do each."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from api.auth import create_token
from earning import model
from tests.e2e.conftest import bearer


@pytest.fixture
async def venue_site(client, tokens, engine, monkeypatch):
    """An activity at the home station that started 10 minutes ago; the app's clock is
    the test's (moved, never slept on)."""
    realm, admin = tokens.realm, tokens.admin
    town = (await client.post("/v1/towns", json={"realm": realm, "name": "城关镇"}, headers=admin)).json()
    home, other = [(await client.post("/v1/stations", json={"realm": realm, "town_id": town["id"], "name": name,
                                                             "setting": "urban"}, headers=admin)).json()
                   for name in ("本站", "他站")]
    residents = [(await client.post("/v1/residents", json={"realm": realm, "station_id": home["id"],
                                                            "code": f"V{n}{realm}", "display_name": f"王{n}"},
                                    headers=admin)).json() for n in range(2)]
    await client.post("/v1/budgets/funding", json={"realm": realm, "asset": "civic", "amount": 1000},
                      headers={**admin, "Idempotency-Key": f"fund-{realm}"})
    starts = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=10)
    organizer = bearer(await create_token(engine, "organizer", realm, station_id=home["id"]))
    activity = (await client.post("/v1/activities", json={
        "realm": realm, "activity_type": "talk", "station_id": home["id"], "title": "法律讲座",
        "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=1)).isoformat()},
        headers=organizer)).json()
    clock = [starts]
    monkeypatch.setattr(client.app.state.services.venue, "clock", lambda: clock[0])
    return {
        "activity": activity, "clock": clock, "residents": residents, "organizer": organizer,
        "other_organizer": bearer(await create_token(engine, "organizer", realm, station_id=other["id"])),
        "resident": bearer(await create_token(engine, "resident", realm, resident_id=residents[0]["id"])),
        "neighbour": bearer(await create_token(engine, "resident", realm, resident_id=residents[1]["id"])),
    }


async def test_scan_in_out_close_and_who_may(client, tokens, venue_site):
    site, activity = venue_site, venue_site["activity"]
    code_url = f"/v1/activities/{activity['id']}/checkin-code"
    for headers in (site["other_organizer"], site["resident"], tokens.auditor, tokens.merchant,
                    tokens.other_realm_admin):
        assert (await client.get(code_url, headers=headers)).status_code == 403
    desk = await client.get(code_url, headers=site["organizer"])
    assert desk.status_code == 200 and desk.json()["refresh_s"] == 30
    code = desk.json()["code"]
    for headers in (site["organizer"], tokens.admin):
        refused = await client.post("/v1/checkins", json={"code": code}, headers=headers)
        assert refused.status_code == 403
    scanned = await client.post("/v1/checkins", json={"code": code, "activity_id": activity["id"]},
                                headers=site["resident"])
    assert scanned.status_code == 201, scanned.text
    assert scanned.json()["action"] == "in" and scanned.json()["title"] == "法律讲座"
    other = await client.post("/v1/checkins", json={"code": code, "activity_id": activity["id"] + 1},
                              headers=site["neighbour"])
    assert other.status_code == 422 and other.json()["code"] == "checkin_code_other_activity"
    forged = await client.post("/v1/checkins", json={"code": code[:-3] + "AAA"}, headers=site["neighbour"])
    assert forged.json()["code"] == "checkin_code_invalid"
    site["clock"][0] += timedelta(minutes=1, seconds=5)
    expired = await client.post("/v1/checkins", json={"code": code}, headers=site["neighbour"])
    assert expired.status_code == 422 and expired.json()["code"] == "checkin_code_expired"

    desk_url = f"/v1/activities/{activity['id']}/checkins"
    typed = await client.post(desk_url, json={"resident_code": site["residents"][1]["code"]},
                              headers=site["organizer"])
    assert typed.status_code == 201 and typed.json()["action"] == "in"
    for headers in (site["other_organizer"], site["resident"], tokens.auditor):
        assert (await client.post(desk_url, json={"resident_code": site["residents"][1]["code"]},
                                  headers=headers)).status_code == 403
    live = await client.get(desk_url, headers=site["organizer"])
    assert [row["display_name"] for row in live.json()["items"]] == ["王0", "王1"]
    assert (await client.get(desk_url, headers=site["resident"])).status_code == 403

    site["clock"][0] += timedelta(minutes=45)
    fresh = (await client.get(code_url, headers=site["organizer"])).json()["code"]
    out = await client.post("/v1/checkins", json={"code": fresh}, headers=site["resident"])
    assert out.json()["action"] == "out" and out.json()["minutes"] == 46
    personal = await client.get(f"/v1/residents/{site['residents'][0]['id']}/checkin-code",
                                headers=site["resident"])
    assert personal.status_code == 200
    assert (await client.get(f"/v1/residents/{site['residents'][0]['id']}/checkin-code",
                             headers=site["organizer"])).status_code == 403
    again = await client.post(desk_url, json={"resident_code": personal.json()["code"]}, headers=site["organizer"])
    assert again.status_code == 409 and again.json()["code"] == "already_checked_out"

    close_url = f"/v1/activities/{activity['id']}/close"
    for headers in (site["other_organizer"], site["resident"], tokens.auditor, tokens.other_realm_admin):
        assert (await client.post(close_url, headers=headers)).status_code == 403
    closed = await client.post(close_url, headers=site["organizer"])
    assert closed.status_code == 200, closed.text
    summary = closed.json()
    assert summary["awarded"] == 1 and summary["points"] == 10 and not summary["replayed"]
    assert [row["resident_id"] for row in summary["no_checkout"]] == [site["residents"][1]["id"]]
    assert (await client.post(close_url, headers=tokens.admin)).json()["replayed"] is True
    mine = await client.get(f"/v1/residents/{site['residents'][0]['id']}/activities", headers=site["resident"])
    assert [(a["title"], a["my_points"]) for a in mine.json()["items"]] == [("法律讲座", 10)]
    late = await client.post("/v1/checkins", json={"code": fresh}, headers=site["neighbour"])
    assert late.status_code == 422


async def test_no_code_outside_the_window(client, venue_site):
    site = venue_site
    site["clock"][0] = datetime.fromisoformat(site["activity"]["ends_at"]) + timedelta(
        seconds=model.CHECKIN_WINDOW_MARGIN_S + 1)
    answer = await client.get(f"/v1/activities/{site['activity']['id']}/checkin-code", headers=site["organizer"])
    assert answer.status_code == 422 and answer.json()["code"] == "checkin_outside_window"


async def test_the_code_pictures_and_who_may_see_them(client, tokens, venue_site):
    site, activity = venue_site, venue_site["activity"]
    desk_png = f"/v1/activities/{activity['id']}/checkin-code.png"
    answer = await client.get(desk_png, headers=site["organizer"])
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    assert answer.content.startswith(b"\x89PNG")
    assert (await client.get(desk_png, headers=tokens.admin)).status_code == 200
    for headers in (site["other_organizer"], site["resident"], tokens.auditor, tokens.other_realm_admin):
        assert (await client.get(desk_png, headers=headers)).status_code == 403
    mine = f"/v1/residents/{site['residents'][0]['id']}/checkin-code.png"
    assert (await client.get(mine, headers=site["resident"])).status_code == 200
    for headers in (site["neighbour"], site["organizer"], tokens.admin, tokens.auditor):
        assert (await client.get(mine, headers=headers)).status_code == 403
    activities = f"/v1/residents/{site['residents'][0]['id']}/activities"
    assert (await client.get(activities, headers=site["organizer"])).status_code == 200
    assert (await client.get(activities, headers=tokens.auditor)).status_code == 200
    for headers in (site["other_organizer"], site["neighbour"], tokens.merchant, tokens.other_realm_admin):
        assert (await client.get(activities, headers=headers)).status_code == 403
