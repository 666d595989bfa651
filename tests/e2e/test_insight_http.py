"""Indicators, notifications, webhooks, star levels and 文明实践之星 over HTTP, each
endpoint walked by every role (who may, who gets 403, realm scope), and bad input
answered with a stable code, never a 500."""
from __future__ import annotations

import io
import zipfile

import pytest

from tests.e2e.insight_scene import ROLES, Scene, expect, make_scene


@pytest.fixture
async def scene(client, tokens, engine) -> Scene:
    return await make_scene(client, tokens, engine)


async def dispatch(client) -> None:
    await client.app.state.services.dispatcher.dispatch_all()


async def test_indicators_by_role_and_format(client, scene: Scene):
    path = f"/v1/reports/indicators?realm={scene.realm}&level=station"
    for role in ROLES:
        expect(role, {"admin", "global_admin", "organizer", "station_organizer", "auditor"}, 200,
               await client.get(path, headers=scene.headers[role]))
    report = (await client.get(path, headers=scene.headers["admin"])).json()
    this_month = report["rows"][-1]["month"]
    mine = [row for row in report["rows"] if row["place"] == str(scene.stations[0]) and row["month"] == this_month]
    assert mine[0]["registered"] == 2 and mine[0]["active"] == 2 and mine[0]["participation_rate"] == 1.0
    assert mine[0]["volunteer_hours"] == 3.5                         # 90 + 120 minutes
    station_only = (await client.get(path, headers=scene.headers["station_organizer"])).json()
    assert {row["place"] for row in station_only["rows"]} == {str(scene.stations[0])}
    csv = await client.get(path + "&format=csv", headers=scene.headers["auditor"])
    assert csv.status_code == 200 and csv.content.startswith("\ufeff".encode()) and "参与率" in csv.text
    xlsx = await client.get(path + "&format=xlsx", headers=scene.headers["auditor"])
    assert xlsx.status_code == 200 and "xl/worksheets/sheet1.xml" in zipfile.ZipFile(io.BytesIO(xlsx.content)).namelist()
    realm_level = (await client.get(f"/v1/reports/indicators?realm={scene.realm}&from={this_month}&to={this_month}",
                                    headers=scene.headers["admin"])).json()
    civic = [b for b in realm_level["budgets"] if b["asset"] == "civic"][0]
    earned = realm_level["rows"][0]["earned"]
    assert earned > 0 and civic["remaining"] == 100_000 - earned and civic["trend"][-1]["burned"] == earned
    setting = (await client.get(f"/v1/reports/indicators?realm={scene.realm}&level=setting&from={this_month}",
                                headers=scene.headers["admin"])).json()
    assert [(row["place"], row["active"]) for row in setting["rows"]] == [("urban", 2), ("rural", 0)]


@pytest.mark.parametrize("query, code", [
    ("level=county", "invalid_indicator_level"), ("from=2026-13", "invalid_month"), ("to=soon", "invalid_month"),
    ("from=2020-01&to=2026-01", "month_range_too_long"), ("from=2026-05&to=2026-01", "invalid_month"),
    ("format=pdf", "invalid_report_format")])
async def test_indicators_refuse_bad_input(client, scene: Scene, query: str, code: str):
    answer = await client.get(f"/v1/reports/indicators?realm={scene.realm}&{query}", headers=scene.headers["admin"])
    assert answer.status_code == 422 and answer.json()["code"] == code, answer.text


async def test_inboxes_by_role(client, scene: Scene):
    await dispatch(client)
    for role in ROLES:
        answer = await client.get("/v1/notifications", headers=scene.headers[role])
        if role == "global_admin":
            assert answer.status_code == 422                          # names the realm
        else:
            assert answer.status_code == 200, f"{role} {answer.text}"
    mine = (await client.get("/v1/notifications", headers=scene.headers["resident"])).json()
    assert [item["type"] for item in mine["items"]] == ["points.earned"] and mine["unread"] == 1
    assert mine["items"][0]["payload"]["amount"] > 0 and "获得积分" in mine["items"][0]["title"]
    other_realm = await client.get(f"/v1/notifications?realm={scene.realm}", headers=scene.headers["other_realm_admin"])
    assert other_realm.status_code == 403
    assert (await client.get("/v1/notifications/unread", headers=scene.headers["resident"])).json() == {
        "unread": 1, "more": False}
    one = mine["items"][0]["id"]
    assert (await client.post(f"/v1/notifications/{one}/read", headers=scene.headers["other_resident"])).status_code == 404
    assert (await client.post(f"/v1/notifications/{one}/read", headers=scene.headers["auditor"])).status_code == 403
    assert (await client.post(f"/v1/notifications/{one}/read", headers=scene.headers["resident"])).json() == {"marked": 1}
    assert (await client.post(f"/v1/notifications/{one}/read", headers=scene.headers["resident"])).json() == {"marked": 0}
    assert (await client.get("/v1/notifications/unread", headers=scene.headers["resident"])).json()["unread"] == 0
    assert (await client.get("/v1/notifications?cursor=garbage", headers=scene.headers["resident"])).status_code == 422


async def test_webhooks_by_role(client, scene: Scene):
    await dispatch(client)                                           # the scene's events: before any hook
    body = {"realm": scene.realm, "url": "https://hooks.example.org/hook", "event_types": ["points.earned"]}
    for role in ROLES:
        made = await client.post("/v1/webhooks", json=body, headers=scene.key(role))
        expect(role, {"admin", "global_admin"}, 201, made)
    key = scene.key("admin")
    made = await client.post("/v1/webhooks", json=body, headers=key)
    again = await client.post("/v1/webhooks", json=body, headers=key)
    assert again.json() == made.json() and again.headers.get("Idempotent-Replayed") == "true"
    assert made.json()["secret"].startswith("whsec_")
    changed = await client.post("/v1/webhooks", json={**body, "url": "https://hooks.example.org/other"}, headers=key)
    assert changed.status_code == 409
    hook = made.json()["id"]
    for role in ROLES:
        listed = await client.get(f"/v1/webhooks?realm={scene.realm}", headers=scene.headers[role])
        expect(role, {"admin", "global_admin", "auditor"}, 200, listed)
        if listed.status_code == 200:
            assert all("secret" not in item for item in listed.json())
        expect(role, {"admin", "global_admin", "auditor"}, 200,
               await client.get(f"/v1/webhooks/{hook}/deliveries", headers=scene.headers[role]))
    newcomer = (await client.post("/v1/residents", headers=scene.headers["admin"], json={
        "realm": scene.realm, "station_id": scene.stations[1], "code": f"NEW{scene.realm}"})).json()
    awarded = await client.post(f"/v1/activities/{scene.activity_id}/attendance", headers=scene.key("admin"),
                                json={"records": [{"resident_id": newcomer["id"], "minutes": 60}]})
    assert awarded.status_code == 200, awarded.text
    await client.put(f"/v1/residents/{scene.residents[0]['id']}/privacy", json={"name_public": True},
                     headers=scene.key("resident"))                   # no event: not in the filter anyway
    await dispatch(client)
    await client.app.state.services.sender.deliver_due()             # port 9: refused, stays pending
    deliveries = (await client.get(f"/v1/webhooks/{hook}/deliveries", headers=scene.headers["admin"])).json()
    assert [(d["event_type"], d["status"]) for d in deliveries["items"]] == [("points.earned", "pending")]
    delivery = deliveries["items"][0]["id"]
    for role in ROLES:
        expect(role, {"admin", "global_admin", "auditor"}, 200,
               await client.get(f"/v1/webhook-deliveries/{delivery}", headers=scene.headers[role]))
    logged = (await client.get(f"/v1/webhook-deliveries/{delivery}", headers=scene.headers["admin"])).json()
    assert logged["attempts"] >= 1 and logged["log"][0]["status_code"] is None and logged["log"][0]["error"]
    for role in ROLES:                                               # pending: a replay changes nothing
        expect(role, {"admin", "global_admin"}, 200,
               await client.post(f"/v1/webhook-deliveries/{delivery}/replay", headers=scene.key(role)))
    for role in ROLES:
        expect(role, {"admin", "global_admin"}, 200, await client.post(
            f"/v1/webhooks/{hook}/active", json={"active": True}, headers=scene.key(role)))
    assert (await client.get("/v1/webhook-deliveries/999999999", headers=scene.headers["admin"])).status_code == 404


@pytest.mark.parametrize("body, code", [
    ({"url": "ftp://example.org/x"}, "invalid_webhook_url"), ({"url": "http://"}, "invalid_webhook_url"),
    ({"url": "http://a.example/" + "x" * 2001}, "invalid_webhook_url"),
    ({"url": "http://a.example/", "event_types": ["nothing.happened"]}, "invalid_event_filter")])
async def test_webhooks_refuse_bad_input(client, scene: Scene, body: dict, code: str):
    answer = await client.post("/v1/webhooks", json={"realm": scene.realm, **body}, headers=scene.key("admin"))
    assert answer.status_code == 422 and answer.json()["code"] == code, answer.text


async def test_stars_and_recognition_by_role(client, scene: Scene):
    me, other = scene.residents
    for role in ROLES:
        expect(role, {"admin", "global_admin"}, 200, await client.put(
            f"/v1/realms/{scene.realm}/star-thresholds", json={"hours": [1, 3, 6, 10, 15]}, headers=scene.key(role)))
        standing = await client.get(f"/v1/residents/{me['id']}/recognition", headers=scene.headers[role])
        expect(role, {"admin", "global_admin", "organizer", "station_organizer", "auditor", "resident"}, 200, standing)
    standing = (await client.get(f"/v1/residents/{me['id']}/recognition", headers=scene.headers["resident"])).json()
    assert standing["volunteer_hours"] == 1.5 and standing["level"] == 1 and standing["next_level_hours"] == 3
    award = {"realm": scene.realm, "resident_id": me["id"], "year": 2025, "citation": "常年清扫街道，热心助人。"}
    for role in ROLES:
        made = await client.post("/v1/recognitions", json=award, headers=scene.key(role))
        expect(role, {"admin"}, 201, made) if role != "global_admin" else None
        if made.status_code == 201:
            recognition = made.json()
    second = await client.post("/v1/recognitions", json=award, headers=scene.key("global_admin"))
    assert second.status_code == 409 and second.json()["code"] == "already_recognised"
    pdf_path = f"/v1/recognitions/{recognition['id']}/certificate.pdf"
    for role in ROLES:
        answer = await client.get(pdf_path, headers=scene.headers[role])
        expect(role, {"admin", "global_admin", "organizer", "station_organizer", "auditor", "resident"}, 200, answer)
        if answer.status_code == 200:
            assert answer.content.startswith(b"%PDF")
    await dispatch(client)
    inbox = (await client.get("/v1/notifications", headers=scene.headers["resident"])).json()
    assert "recognition.awarded" in [item["type"] for item in inbox["items"]]
    seen = (await client.get(f"/v1/recognitions?realm={scene.realm}", headers=scene.headers["other_resident"])).json()
    assert seen[0]["name"] == "张**" and seen[0]["resident_id"] is None and seen[0]["certificate"] is None


@pytest.mark.parametrize("path, body, code", [
    ("thresholds", {"hours": [10, 5, 20, 30, 40]}, "invalid_star_thresholds"),
    ("thresholds", {"hours": [1, 2, 3]}, "invalid_star_thresholds"),
    ("recognitions", {"year": 1999, "citation": "x"}, "invalid_year"),
    ("recognitions", {"year": 2025, "citation": "   "}, "invalid_citation"),
    ("recognitions", {"year": 2025, "citation": "x" * 1001}, "invalid_citation")])
async def test_recognition_refuses_bad_input(client, scene: Scene, path: str, body: dict, code: str):
    if path == "thresholds":
        answer = await client.put(f"/v1/realms/{scene.realm}/star-thresholds", json=body, headers=scene.key("admin"))
    else:
        answer = await client.post("/v1/recognitions", headers=scene.key("admin"), json={
            "realm": scene.realm, "resident_id": scene.residents[0]["id"], **body})
    assert answer.status_code == 422 and answer.json()["code"] == code, answer.text


async def test_only_the_resident_chooses_to_show_its_name(client, scene: Scene):
    me = scene.residents[0]
    for role in ROLES:
        expect(role, {"resident"}, 200, await client.put(f"/v1/residents/{me['id']}/privacy",
                                                          json={"name_public": True}, headers=scene.key(role)))
    board = (await client.get(f"/v1/leaderboards?realm={scene.realm}", headers=scene.headers["other_resident"])).json()
    names = {item["name"] for item in board["items"]}
    assert names == {"张三丰", "李四光"}                                # me opted in; the viewer's own line
    await client.put(f"/v1/residents/{me['id']}/privacy", json={"name_public": False}, headers=scene.key("resident"))
    board = (await client.get(f"/v1/leaderboards?realm={scene.realm}", headers=scene.headers["other_resident"])).json()
    assert {item["name"] for item in board["items"]} == {"张**", "李四光"}
    staff = (await client.get(f"/v1/leaderboards?realm={scene.realm}", headers=scene.headers["admin"])).json()
    assert {item["display_name"] for item in staff["items"]} == {"张三丰", "李四光"}
    assert (await client.get("/v1/residents/999999999/privacy", headers=scene.headers["admin"])).status_code == 404
