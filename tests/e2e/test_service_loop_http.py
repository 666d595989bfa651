"""The service loop over HTTP: order, dispatch, accept, done, confirm and rate, each
retried; points credited once, never past the 志愿 rule's daily cap; the refusals of bad input, each with its code and
nothing changed."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from ledger.model import DEFAULT_TIMEZONE
from tests.e2e.service_loop_support import (balance, build_loop, done_request, key, keyed, order, step,
                                            window)

VOLUNTEER_POINTS_90_MIN = 20 + 2 * 1      # the 志愿 rule: 20, plus 2 per full hour
RATING_REWARD = 2


@pytest.fixture
async def loop(client, tokens, engine):
    return await build_loop(client, tokens, engine)


async def test_the_whole_loop_with_retries_credits_once(client, loop):
    body = {"category": "助老", "description": "帮忙买菜", "notes": "幸福路 8 号", **window()}
    create_key = key()
    first = await client.post("/v1/service-requests", json=body, headers=keyed(loop["requester"], create_key))
    again = await client.post("/v1/service-requests", json=body, headers=keyed(loop["requester"], create_key))
    assert first.status_code == again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"] and again.headers.get("Idempotent-Replayed") == "true"
    request_id = first.json()["id"]
    volunteer = loop["people"]["volunteer"]["id"]
    steps = (("dispatch", loop["home_organizer"], {"volunteer_id": volunteer}, "dispatched"),
             ("accept", loop["volunteer"], None, "accepted"),
             ("done", loop["volunteer"], {"minutes": 90}, "done"),
             ("confirm", loop["requester"], {"rating": 5, "comment": "很好"}, "confirmed"))
    for name, headers, payload, state in steps:
        step_key = key()
        answers = [await step(client, request_id, name, headers, payload, step_key) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 200], answers[-1].text
        assert {a.json()["state"] for a in answers} == {state}
        assert [a.headers.get("Idempotent-Replayed") for a in answers] == [None, "true", "true"]
    assert await balance(client, loop, "volunteer") == VOLUNTEER_POINTS_90_MIN
    assert await balance(client, loop, "requester") == RATING_REWARD
    seen = (await client.get(f"/v1/service-requests/{request_id}", headers=loop["requester"])).json()
    assert {(a["kind"], a["points"]) for a in seen["awards"]} == {("volunteer", VOLUNTEER_POINTS_90_MIN),
                                                                  ("rating", RATING_REWARD)}
    again = await step(client, request_id, "confirm", loop["requester"], {"rating": 5})
    assert again.status_code == 409 and again.json()["code"] == "request_already_confirmed"
    assert await balance(client, loop, "volunteer") == VOLUNTEER_POINTS_90_MIN
    tasks = (await client.get("/v1/service-requests", params={"realm": loop["realm"], "view": "assigned"},
                              headers=loop["volunteer"])).json()["items"]
    assert [(t["id"], t["volunteer_points"]) for t in tasks] == [(request_id, VOLUNTEER_POINTS_90_MIN)]


async def test_confirmations_of_one_day_pay_the_volunteer_up_to_the_daily_cap(client, loop):
    """The 志愿 rule pays 26 for three hours, 100 a day: four confirmations pay 26, 26, 26
    and the 22 left; a fifth confirms and pays the volunteer nothing (only the rating
    reward), and every answer, the replay and the listing say what the volunteer got."""
    done = [await done_request(client, loop, minutes=180) for _ in range(5)]
    days = {datetime.fromisoformat(d["done_at"]).astimezone(ZoneInfo(DEFAULT_TIMEZONE)).date() for d in done}
    if len(days) > 1:
        pytest.skip("the requests were done either side of the realm's midnight")
    confirm_key = key()
    answers = [await step(client, d["id"], "confirm", loop["requester"], {"rating": 5},
                          confirm_key if n == 4 else None) for n, d in enumerate(done)]
    assert [a.status_code for a in answers] == [200] * 5, answers[-1].text
    assert [a.json()["volunteer_points"] for a in answers] == [26, 26, 26, 22, 0]
    last = answers[-1].json()
    assert last["state"] == "confirmed" and [(a["kind"], a["points"]) for a in last["awards"]] == [
        ("rating", RATING_REWARD)]
    assert {a["award_day"] for a in answers[0].json()["awards"] if a["kind"] == "volunteer"} == {
        days.pop().isoformat()}
    replayed = await step(client, done[-1]["id"], "confirm", loop["requester"], {"rating": 5}, confirm_key)
    assert replayed.headers.get("Idempotent-Replayed") == "true" and replayed.json()["volunteer_points"] == 0
    seen = (await client.get(f"/v1/service-requests/{done[-1]['id']}", headers=loop["volunteer"])).json()
    assert seen["volunteer_points"] == 0
    assert await balance(client, loop, "volunteer") == 100
    tasks = (await client.get("/v1/service-requests", params={"realm": loop["realm"], "view": "assigned"},
                              headers=loop["volunteer"])).json()["items"]
    assert [t["volunteer_points"] for t in tasks] == [0, 22, 26, 26, 26]


async def test_decline_returns_to_the_queue_and_cancel_before_done(client, loop):
    made = await order(client, loop)
    volunteer = loop["people"]["volunteer"]["id"]
    assert (await step(client, made["id"], "dispatch", loop["home_organizer"], {"volunteer_id": volunteer})).status_code == 200
    declined = await step(client, made["id"], "decline", loop["volunteer"])
    assert declined.status_code == 200 and declined.json()["state"] == "open"
    assert declined.json()["queue_note"] and declined.json()["volunteer_id"] is None
    queue = (await client.get("/v1/dispatch-queue", params={"realm": loop["realm"]}, headers=loop["home_organizer"])).json()
    assert made["id"] in [item["id"] for item in queue["items"]]
    cancelled = await step(client, made["id"], "cancel", loop["requester"])
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    finished = await done_request(client, loop)
    refused = await step(client, finished["id"], "cancel", loop["requester"])
    assert refused.status_code == 409 and refused.json()["code"] == "request_cannot_cancel"


async def test_the_queue_is_most_urgent_then_oldest_with_suggestions(client, loop):
    older = await order(client, loop)
    newer = await order(client, loop)
    urgent = await order(client, loop, urgent=True)
    queue = await client.get("/v1/dispatch-queue", params={"realm": loop["realm"], "limit": 2},
                             headers=loop["home_organizer"])
    assert queue.status_code == 200, queue.text
    first = queue.json()
    assert [item["id"] for item in first["items"]] == [urgent["id"], older["id"]]
    suggested = [s["resident_id"] for s in first["items"][0]["suggestions"]]
    assert set(suggested) == {loop["people"]["volunteer"]["id"], loop["people"]["second"]["id"]}
    rest = (await client.get("/v1/dispatch-queue", params={"realm": loop["realm"], "cursor": first["next_cursor"]},
                             headers=loop["home_organizer"])).json()
    assert [item["id"] for item in rest["items"]] == [newer["id"]]
    # a volunteer with an open task comes after one with none
    assert (await step(client, older["id"], "dispatch", loop["home_organizer"],
                       {"volunteer_id": loop["people"]["volunteer"]["id"]})).status_code == 200
    again = (await client.get("/v1/dispatch-queue", params={"realm": loop["realm"]}, headers=loop["home_organizer"])).json()
    assert [s["resident_id"] for s in again["items"][0]["suggestions"]][0] == loop["people"]["second"]["id"]
    far = await client.get("/v1/dispatch-queue", params={"realm": loop["realm"]}, headers=loop["far_organizer"])
    assert far.json()["items"] == []


async def test_bad_input_has_a_code_each_and_changes_nothing(client, loop, engine, ledger):
    made = await order(client, loop)
    request_id, volunteer = made["id"], loop["people"]["volunteer"]["id"]

    async def refused(name, headers, body, status, code):
        answer = await step(client, request_id, name, headers, body)
        assert (answer.status_code, answer.json().get("code")) == (status, code), answer.text

    await refused("confirm", loop["requester"], {"rating": 5}, 409, "request_not_done")
    elsewhere = await volunteer_of_another_realm(engine, ledger)
    await refused("dispatch", loop["home_organizer"], {"volunteer_id": elsewhere}, 422, "volunteer_other_realm")
    await refused("dispatch", loop["home_organizer"], {"volunteer_id": loop["people"]["far"]["id"]}, 422,
                  "volunteer_other_realm")    # a resident of this realm, not a volunteer
    await refused("dispatch", loop["home_organizer"], {"volunteer_id": 10**12}, 422, "volunteer_other_realm")
    await refused("dispatch", loop["home_organizer"], {"volunteer_id": "x"}, 400, "invalid_request")
    assert (await step(client, request_id, "dispatch", loop["home_organizer"], {"volunteer_id": volunteer})).status_code == 200
    await refused("accept", loop["second"], None, 403, "not_dispatched_to_you")
    await refused("accept", loop["home_organizer"], None, 403, "not_dispatched_to_you")
    assert (await step(client, request_id, "accept", loop["volunteer"])).status_code == 200
    await refused("done", loop["volunteer"], {}, 422, "minutes_required")
    await refused("done", loop["volunteer"], {"minutes": 3 * 60 + 1}, 422, "minutes_beyond_window")
    await refused("done", loop["volunteer"], {"minutes": 0}, 422, "minutes_beyond_window")
    await refused("done", loop["volunteer"], {"minutes": 30, "extra": 1}, 400, "invalid_request")
    await refused("done", loop["second"], {"minutes": 30}, 403, "not_dispatched_to_you")
    assert (await step(client, request_id, "done", loop["volunteer"], {"minutes": 60})).status_code == 200
    for rating in (0, 6, -1):
        await refused("confirm", loop["requester"], {"rating": rating}, 422, "rating_out_of_range")
    await refused("confirm", loop["neighbour"], {"rating": 5}, 403, "forbidden")
    await refused("confirm", loop["volunteer"], {"rating": 5}, 403, "forbidden")
    seen = (await client.get(f"/v1/service-requests/{request_id}", headers=loop["requester"])).json()
    assert seen["state"] == "done" and seen["awards"] == [] and seen["rating"] is None
    assert await balance(client, loop, "volunteer") == 0
    # one key, two different steps: refused
    reused = key()
    assert (await step(client, request_id, "confirm", loop["requester"], {"rating": 4}, reused)).status_code == 200
    again = await step(client, request_id, "confirm", loop["requester"], {"rating": 3}, reused)
    assert (again.status_code, again.json()["code"]) == (409, "idempotency_key_reused")
    missing = await client.post(f"/v1/service-requests/{request_id}/cancel", headers=loop["requester"])
    assert (missing.status_code, missing.json()["code"]) == (422, "idempotency_key_required")
    bad_order = await client.post("/v1/service-requests", json={"category": "修仙", "description": "x", **window()},
                                  headers=keyed(loop["requester"]))
    assert (bad_order.status_code, bad_order.json()["code"]) == (422, "unknown_skill")
    backwards = await client.post("/v1/service-requests", json={
        "category": "助老", "description": "x", "wanted_from": window()["wanted_until"],
        "wanted_until": window()["wanted_from"]}, headers=keyed(loop["requester"]))
    assert (backwards.status_code, backwards.json()["code"]) == (422, "window_invalid")
    naive = await client.post("/v1/service-requests", json={
        "category": "助老", "description": "x", "wanted_from": "2030-01-01T10:00:00",
        "wanted_until": "2030-01-01T12:00:00"}, headers=keyed(loop["requester"]))
    assert (naive.status_code, naive.json()["code"]) == (422, "invalid_timestamp")
    final = (await client.get(f"/v1/service-requests/{request_id}", headers=loop["requester"])).json()
    assert (final["state"], final["rating"], len(final["awards"])) == ("confirmed", 4, 2)   # the refusals changed nothing


async def volunteer_of_another_realm(engine, ledger) -> int:
    """An approved volunteer of a realm of its own: its resident id."""
    from earning.service import Earning
    from orders.service import Orders
    from tests.conftest import new_realm_code

    realm = new_realm_code()
    await ledger.open_realm(realm, "他区")
    earning = Earning(engine, ledger)
    town = await earning.create_town(realm, "他镇")
    station = await earning.create_station(realm, town["id"], "他村", "rural")
    resident = await earning.register_resident(realm, station["id"], f"OTHER{realm}")
    orders = Orders(engine, ledger)
    await orders.apply(realm, resident["id"], ["助老"], [station["id"]], None)
    await orders.decide(realm, resident["id"], True, "test")
    return resident["id"]


async def test_notes_are_seen_by_the_requester_dispatchers_and_the_volunteer_only(client, loop, tokens):
    made = await order(client, loop)
    request_id = made["id"]
    assert (await step(client, request_id, "dispatch", loop["home_organizer"],
                       {"volunteer_id": loop["people"]["volunteer"]["id"]})).status_code == 200
    for who in (loop["requester"], loop["volunteer"], loop["home_organizer"], tokens.organizer, tokens.admin):
        seen = await client.get(f"/v1/service-requests/{request_id}", headers=who)
        assert seen.status_code == 200 and seen.json()["notes"] == "幸福路 8 号"
    audited = await client.get(f"/v1/service-requests/{request_id}", headers=tokens.auditor)
    assert audited.status_code == 200 and audited.json()["notes"] is None
    for who in (loop["second"], loop["neighbour"], loop["far_organizer"], tokens.merchant, tokens.other_realm_admin):
        assert (await client.get(f"/v1/service-requests/{request_id}", headers=who)).status_code == 403
    listed = (await client.get("/v1/service-requests", params={"realm": loop["realm"], "view": "station"},
                               headers=tokens.auditor)).json()["items"]
    assert listed and all(item["notes"] is None for item in listed)
