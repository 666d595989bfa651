"""Privacy (issue 16 item 5): every GET endpoint of the app, walked with a resident's token
and every plausible id, never shows another resident's unmasked name, code, id or phone
(and never answers 500). The other resident has earned, holds a voucher, signed up for
the same activity, was named 文明实践之星, opened a service request, applied to volunteer
and booked a resource's slot, so its data is there to leak (the GET endpoints of orders,
feedback and resources are walked with those ids)."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from litestar.routes import HTTPRoute
from sqlalchemy import text

from orders import model as orders_model
from resources import model as resources_model
from resources.service import Booker
from tests.e2e.insight_scene import Scene, make_scene

PARAMETER = re.compile(r"\{(\w+):(\w+)\}")
MINIMUM_ANSWERED = 15     # GET endpoints that answer a resident 200 (the rest: 403/404/422)
SKIPPED_PREFIXES = ("/schema", "/static", "/redoc", "/swagger")


@pytest.fixture
async def scene(client, tokens, engine) -> Scene:
    scene = await make_scene(client, tokens, engine)
    other = scene.residents[1]
    voucher = await client.post("/v1/vouchers", json={"asset": "civic", "amount": 5},
                                headers=scene.key("other_resident"))
    assert voucher.status_code == 201, voucher.text
    for who in ("resident", "other_resident"):
        signed = await client.post(f"/v1/activities/{scene.activity_id}/signups", json={}, headers=scene.key(who))
        assert signed.status_code in (201, 422), signed.text          # the activity may be over: refused
    award = await client.post("/v1/recognitions", headers=scene.key("admin"), json={
        "realm": scene.realm, "resident_id": other["id"], "year": 2025, "citation": "热心助人"})
    assert award.status_code == 201, award.text
    loop_ids = await others_loop_and_booking(client, scene)
    await client.app.state.services.dispatcher.dispatch_all()
    scene.extra_ids = [voucher.json()["id"], award.json()["id"], *loop_ids]      # type: ignore[attr-defined]
    return scene


async def others_loop_and_booking(client, scene: Scene) -> list[int]:
    """The other resident's service request and volunteer application (orders), and its
    booking of a slot (resources): the ids of the request, resource, slot and reservation."""
    services, realm, other = client.app.state.services, scene.realm, scene.residents[1]
    starts = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=30)
    asker = orders_model.Actor("resident", realm, f"resident:{other['id']}", other["id"])
    request = (await services.orders.create(realm, orders_model.NewRequest(
        other["id"], scene.stations[0], "助老", "帮忙买菜", starts, starts + timedelta(hours=2), "幸福路 8 号"),
        asker, "walk-request")).request
    await services.orders.apply(realm, other["id"], ["助老"], [scene.stations[0]], "周末")
    shop = await services.merchants.create(realm, "service_provider", "县医院")
    provider = await services.resources.register_provider(
        realm, "县医院体检中心", resources_model.Provider(shop["id"], "service_provider", realm), "admin:walk")
    resource = await services.resources.create_resource(
        provider, {"kind": "health", "title": "体检", "scope": "realm", "station_id": scene.stations[0]}, "admin:walk")
    place = (await services.resources.add_slots(resource, [starts], timedelta(hours=1), 5, 0))[0]
    async with services.engine.connect() as conn:
        town = (await conn.execute(text("SELECT town_id FROM stations WHERE realm = :realm AND id = :id"),
                                   {"realm": realm, "id": scene.stations[0]})).scalar_one()
    booker = Booker(realm, resources_model.Station(realm, scene.stations[0], town), other["id"])
    booked = await services.resources.book(place["id"], booker, False, "walk-booking", f"resident:{other['id']}")
    return [request["id"], resource["id"], place["id"], booked["id"]]


def get_paths(app) -> list[str]:
    return sorted({route.path for route in app.routes
                   if isinstance(route, HTTPRoute) and "GET" in route.methods
                   and not route.path.startswith(SKIPPED_PREFIXES)})


def concrete(path: str, scene: Scene) -> list[str]:
    """The path with every combination of candidate values for its parameters."""
    other = scene.residents[1]
    ints = sorted({other["id"], scene.residents[0]["id"], scene.activity_id, scene.merchant_id, *scene.stations,
                   *scene.extra_ids, 1})                             # type: ignore[attr-defined]
    strings = [scene.realm, other["code"]]
    paths = [path]
    for match in PARAMETER.finditer(path):
        values = ints if match.group(2) == "int" else strings
        paths = [p.replace(match.group(0), str(value), 1) for p in paths for value in values]
    return paths


def leaks(found: Any, other: dict) -> list[str]:
    """Where `found` (decoded JSON) shows the other resident: its id under a resident key,
    or its name, code or phone anywhere."""
    out = []
    if isinstance(found, dict):
        for key, value in found.items():
            if key in ("resident_id", "requester_id", "volunteer_id") and value == other["id"]:
                out.append(f"{key}={value}")
            out.extend(leaks(value, other))
    elif isinstance(found, list):
        for value in found:
            out.extend(leaks(value, other))
    elif isinstance(found, str):
        for secret in (other["display_name"], other["code"], other["phone"]):
            if secret in found:
                out.append(f"text {secret!r}")
    return out


async def test_no_get_endpoint_shows_a_resident_another_residents_identity(client, scene: Scene):
    other = scene.residents[1]
    walked, answered, problems = 0, set(), []
    for template in get_paths(client.app):
        for path in concrete(template, scene):
            for query in ("", f"?realm={scene.realm}", f"?realm={scene.realm}&resident_id={other['id']}"
                          f"&station={scene.stations[0]}&level=station&order=hours"):
                answer = await client.get(path + query, headers=scene.headers["resident"])
                walked += 1
                assert answer.status_code < 500, f"{path}{query}: {answer.status_code} {answer.text[:200]}"
                if answer.status_code >= 300:
                    continue
                answered.add(template)
                content_type = answer.headers.get("content-type", "")
                if "json" in content_type:
                    found = leaks(json.loads(answer.text), other)
                elif content_type.startswith("text/"):
                    found = [secret for secret in (other["display_name"], other["code"], other["phone"])
                             if secret in answer.text]
                else:
                    found = [secret for secret in (other["display_name"], other["code"], other["phone"])
                             if secret.encode() in answer.content]
                if found:
                    problems.append(f"{path}{query}: {found}")
    assert walked > 100 and len(answered) >= MINIMUM_ANSWERED, sorted(answered)
    assert "/v1/leaderboards" in answered and "/v1/recognitions" in answered
    assert {"/v1/service-requests", "/v1/reservations"} <= answered, sorted(answered)
    assert problems == []


async def test_the_walk_would_see_a_leak(client, scene: Scene):
    """The check itself can fail: the admin's leaderboard shows the other resident."""
    board = await client.get(f"/v1/leaderboards?realm={scene.realm}", headers=scene.headers["admin"])
    assert leaks(board.json(), scene.residents[1])
