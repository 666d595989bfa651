"""Every endpoint of the service loop and of feedback, walked by every role: admin,
realm organizer, station organizer (own and another station), resident, volunteer
resident, merchant, auditor, another realm's admin. Who may, who gets 403, and scope."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from api.service_loop import ServiceJobs
from tests.e2e.service_loop_support import balance, build_loop, done_request, keyed, order, step


@pytest.fixture
async def loop(client, tokens, engine):
    return await build_loop(client, tokens, engine)


def roles(tokens, loop) -> dict[str, dict[str, str]]:
    return {"admin": tokens.admin, "organizer": tokens.organizer, "station_organizer": loop["home_organizer"],
            "other_station_organizer": loop["far_organizer"], "resident": loop["requester"],
            "volunteer": loop["volunteer"], "merchant": tokens.merchant, "auditor": tokens.auditor,
            "other_realm_admin": tokens.other_realm_admin}


async def statuses(client, method: str, path: str, who: dict[str, dict[str, str]], **kwargs) -> dict[str, int]:
    answers = {}
    for name, headers in who.items():
        call = getattr(client, method)
        if method == "post":
            answer = await call(path, headers=keyed(headers), **kwargs)
        else:
            answer = await call(path, headers=headers, **kwargs)
        answers[name] = answer.status_code
    return answers


async def test_reads_by_every_role(client, tokens, loop):
    realm, who = loop["realm"], roles(tokens, loop)
    made = await order(client, loop)
    settings = await statuses(client, "get", f"/v1/realms/{realm}/service-settings", who)
    assert settings == {"admin": 200, "organizer": 200, "station_organizer": 200, "other_station_organizer": 200,
                        "resident": 200, "volunteer": 200, "merchant": 403, "auditor": 200, "other_realm_admin": 403}
    queue = await statuses(client, "get", "/v1/dispatch-queue", who, params={"realm": realm})
    assert queue == {"admin": 200, "organizer": 200, "station_organizer": 200, "other_station_organizer": 200,
                     "resident": 403, "volunteer": 403, "merchant": 403, "auditor": 403, "other_realm_admin": 403}
    one = await statuses(client, "get", f"/v1/service-requests/{made['id']}", who)
    assert one == {"admin": 200, "organizer": 200, "station_organizer": 200, "other_station_organizer": 403,
                   "resident": 200, "volunteer": 403, "merchant": 403, "auditor": 200, "other_realm_admin": 403}
    station = await statuses(client, "get", "/v1/service-requests", who, params={"realm": realm, "view": "station"})
    assert station == {"admin": 200, "organizer": 200, "station_organizer": 200, "other_station_organizer": 200,
                       "resident": 403, "volunteer": 403, "merchant": 403, "auditor": 200, "other_realm_admin": 403}
    mine = await statuses(client, "get", "/v1/service-requests", who, params={"realm": realm, "view": "requested"})
    assert mine == {"admin": 403, "organizer": 403, "station_organizer": 403, "other_station_organizer": 403,
                    "resident": 200, "volunteer": 200, "merchant": 403, "auditor": 403, "other_realm_admin": 403}
    volunteers = await statuses(client, "get", "/v1/volunteers", who, params={"realm": realm})
    assert volunteers == {"admin": 200, "organizer": 200, "station_organizer": 200, "other_station_organizer": 200,
                          "resident": 403, "volunteer": 403, "merchant": 403, "auditor": 200, "other_realm_admin": 403}
    volunteer = await statuses(client, "get", f"/v1/volunteers/{loop['people']['volunteer']['id']}", who)
    assert volunteer == {"admin": 200, "organizer": 200, "station_organizer": 200, "other_station_organizer": 403,
                         "resident": 403, "volunteer": 200, "merchant": 403, "auditor": 200, "other_realm_admin": 403}
    for path in ("/v1/alerts", "/v1/alerts/count", "/v1/ratings/averages"):
        answers = await statuses(client, "get", path, who, params={"realm": realm})
        assert answers == {"admin": 200, "organizer": 200, "station_organizer": 200, "other_station_organizer": 200,
                           "resident": 403, "volunteer": 403, "merchant": 403, "auditor": 200,
                           "other_realm_admin": 403}, path
    far_queue = (await client.get("/v1/dispatch-queue", params={"realm": realm, "station_id": loop["home"]["id"]},
                                  headers=loop["far_organizer"])).json()
    assert far_queue["items"] == []          # a station organizer sees only its station's queue


async def test_steps_by_every_role(client, tokens, loop):
    who = roles(tokens, loop)
    volunteer = loop["people"]["volunteer"]["id"]
    made = await order(client, loop)
    dispatch = await statuses(client, "post", f"/v1/service-requests/{made['id']}/dispatch",
                              {k: v for k, v in who.items() if k not in ("station_organizer",)},
                              json={"volunteer_id": volunteer})
    assert dispatch == {"admin": 200, "organizer": 409, "other_station_organizer": 403, "resident": 403,
                        "volunteer": 403, "merchant": 403, "auditor": 403, "other_realm_admin": 403}
    accept = await statuses(client, "post", f"/v1/service-requests/{made['id']}/accept", who)
    assert accept == {"admin": 403, "organizer": 403, "station_organizer": 403, "other_station_organizer": 403,
                      "resident": 403, "volunteer": 200, "merchant": 403, "auditor": 403, "other_realm_admin": 403}
    done = await statuses(client, "post", f"/v1/service-requests/{made['id']}/done", who, json={"minutes": 30})
    assert done == {"admin": 403, "organizer": 403, "station_organizer": 403, "other_station_organizer": 403,
                    "resident": 403, "volunteer": 200, "merchant": 403, "auditor": 403, "other_realm_admin": 403}
    confirm = await statuses(client, "post", f"/v1/service-requests/{made['id']}/confirm",
                             {k: v for k, v in who.items() if k != "resident"}, json={"rating": 4})
    assert confirm == {"admin": 200, "organizer": 409, "station_organizer": 409, "other_station_organizer": 403,
                       "volunteer": 403, "merchant": 403, "auditor": 403, "other_realm_admin": 403}
    cancellable = await order(client, loop)
    cancel = await statuses(client, "post", f"/v1/service-requests/{cancellable['id']}/cancel",
                            {k: v for k, v in who.items() if k != "admin"})
    assert cancel == {"organizer": 200, "station_organizer": 409, "other_station_organizer": 403, "resident": 409,
                      "volunteer": 403, "merchant": 403, "auditor": 403, "other_realm_admin": 403}
    home = loop["home"]["id"]
    create = await statuses(client, "post", "/v1/service-requests", who, json={
        "category": "助老", "description": "上门理发", "resident_id": loop["people"]["requester"]["id"],
        "wanted_from": datetime.now(timezone.utc).isoformat(),
        "wanted_until": (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()})
    # a resident orders for itself only; organizers of its station or the realm for it
    assert create == {"admin": 403, "organizer": 201, "station_organizer": 201, "other_station_organizer": 403,
                      "resident": 201, "volunteer": 403, "merchant": 403, "auditor": 403, "other_realm_admin": 403}
    applicant = loop["people"]["neighbour"]["id"]
    apply = await statuses(client, "post", "/v1/volunteers", {"merchant": tokens.merchant, "auditor": tokens.auditor,
                                                              "other_station_organizer": loop["far_organizer"]},
                           json={"skills": ["法律"], "station_ids": [home], "resident_id": applicant})
    assert apply == {"merchant": 403, "auditor": 403, "other_station_organizer": 403}
    applied = await client.post("/v1/volunteers", json={"skills": ["法律"], "station_ids": [home]},
                                headers=keyed(loop["neighbour"]))
    assert applied.status_code == 201 and applied.json()["status"] == "pending"
    decide = await statuses(client, "post", f"/v1/volunteers/{applicant}/decision", who, json={"approve": True})
    assert decide == {"admin": 200, "organizer": 200, "station_organizer": 200, "other_station_organizer": 403,
                      "resident": 403, "volunteer": 403, "merchant": 403, "auditor": 403, "other_realm_admin": 403}
    change = {"skills": ["助老", "法律"], "rating_reward_points": 3, "alert_ratings_min": 2}
    put = {}
    for name, headers in who.items():
        put[name] = (await client.put(f"/v1/realms/{loop['realm']}/service-settings", json=change,
                                      headers=headers)).status_code
    assert put == {"admin": 200, "organizer": 403, "station_organizer": 403, "other_station_organizer": 403,
                   "resident": 403, "volunteer": 403, "merchant": 403, "auditor": 403, "other_realm_admin": 403}
    bad = await client.put(f"/v1/realms/{loop['realm']}/service-settings", json={**change, "rating_reward_points": -1},
                           headers=tokens.admin)
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_service_settings")


async def test_activity_ratings_alerts_and_acknowledgement(client, tokens, loop, engine):
    realm, home = loop["realm"], loop["home"]["id"]
    starts = datetime.now(timezone.utc) - timedelta(hours=3)
    activity = (await client.post("/v1/activities", json={
        "realm": realm, "activity_type": "talk", "station_id": home, "title": "防诈骗讲座",
        "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat()},
        headers=loop["home_organizer"])).json()
    raters = ["requester", "volunteer", "second"]
    recorded = await client.post(f"/v1/activities/{activity['id']}/attendance", json={"records": [
        {"resident_id": loop["people"][name]["id"], "minutes": 60} for name in raters]},
        headers=keyed(loop["home_organizer"]))
    assert recorded.status_code == 200, recorded.text
    path = f"/v1/activities/{activity['id']}/ratings"
    absent = await client.post(path, json={"rating": 4}, headers=keyed(loop["neighbour"]))
    assert (absent.status_code, absent.json()["code"]) == (422, "activity_not_attended")
    for rating in (0, 6):
        wrong = await client.post(path, json={"rating": rating}, headers=keyed(loop["requester"]))
        assert (wrong.status_code, wrong.json()["code"]) == (422, "rating_out_of_range")
    for name, headers in (("organizer", loop["home_organizer"]), ("merchant", tokens.merchant),
                          ("auditor", tokens.auditor)):
        assert (await client.post(path, json={"rating": 2}, headers=keyed(headers))).status_code == 403, name
    for name, rating in zip(raters, (2, 3, 3)):
        rated = await client.post(path, json={"rating": rating}, headers=keyed(loop[name]))
        assert rated.status_code == 201, rated.text
    twice = await client.post(path, json={"rating": 5}, headers=keyed(loop["requester"]))
    assert (twice.status_code, twice.json()["code"]) == (409, "already_rated")
    retried = await client.post(path, json={"rating": 2}, headers=keyed(loop["requester"]))
    assert retried.status_code == 201 and retried.headers.get("Idempotent-Replayed") == "true"
    averages = (await client.get("/v1/ratings/averages", params={"realm": realm, "kind": "activity"},
                                 headers=tokens.auditor)).json()["items"]
    assert [(a["subject_key"], a["ratings"], a["average"]) for a in averages] == [(str(activity["id"]), 3, 2.67)]
    alerts = (await client.get("/v1/alerts", params={"realm": realm, "open": "true"},
                               headers=loop["home_organizer"])).json()["items"]
    assert {(a["subject_kind"], a["kind"]) for a in alerts} == {("activity", "average_below"),
                                                               ("organizer", "average_below")}
    far = (await client.get("/v1/alerts", params={"realm": realm}, headers=loop["far_organizer"])).json()
    assert far["items"] == []
    count = (await client.get("/v1/alerts/count", params={"realm": realm}, headers=loop["home_organizer"])).json()
    assert count == {"open": 2}
    alert_id = alerts[0]["id"]
    for headers in (loop["far_organizer"], tokens.auditor, loop["requester"], tokens.merchant,
                    tokens.other_realm_admin):
        assert (await client.post(f"/v1/alerts/{alert_id}/acknowledge", headers=keyed(headers))).status_code == 403
    for _ in range(2):
        acked = await client.post(f"/v1/alerts/{alert_id}/acknowledge", headers=keyed(loop["home_organizer"]))
        assert acked.status_code == 200 and acked.json()["acknowledged_at"]
    count = (await client.get("/v1/alerts/count", params={"realm": realm}, headers=tokens.organizer)).json()
    assert count == {"open": 1}
    missing = await client.post("/v1/alerts/999999999/acknowledge", headers=keyed(tokens.admin))
    assert (missing.status_code, missing.json()["code"]) == (404, "alert_not_found")


async def test_a_low_rating_alerts_the_dispatcher(client, tokens, loop):
    finished = await done_request(client, loop)
    rated = await step(client, finished["id"], "confirm", loop["requester"], {"rating": 1, "comment": "没来"})
    assert rated.status_code == 200, rated.text
    alerts = (await client.get("/v1/alerts", params={"realm": loop["realm"]}, headers=loop["home_organizer"])).json()
    low = [a for a in alerts["items"] if a["kind"] == "low_rating"]
    assert [(a["subject_key"], a["total"]) for a in low] == [(str(finished["id"]), 1)]
    assert low[0]["recipient"].startswith("organizer:")


async def test_the_background_jobs_return_flag_and_confirm(client, loop):
    services = client.app.state.services
    jobs = ServiceJobs(services, dispatch_timeout_s=0, auto_confirm_s=0)
    dispatched = await order(client, loop)
    assert (await step(client, dispatched["id"], "dispatch", loop["home_organizer"],
                       {"volunteer_id": loop["people"]["volunteer"]["id"]})).status_code == 200
    await jobs.return_timed_out()
    back = (await client.get(f"/v1/service-requests/{dispatched['id']}", headers=loop["requester"])).json()
    assert back["state"] == "open" and back["queue_note"]
    finished = await done_request(client, loop, minutes=120)
    before = await balance(client, loop, "volunteer")
    assert finished["id"] in await jobs.auto_confirm()
    confirmed = (await client.get(f"/v1/service-requests/{finished['id']}", headers=loop["requester"])).json()
    assert confirmed["state"] == "confirmed" and confirmed["rating"] is None
    assert [a["kind"] for a in confirmed["awards"]] == ["volunteer"]
    assert await balance(client, loop, "volunteer") == before + 20 + 2 * 2
    assert finished["id"] not in await jobs.auto_confirm()
