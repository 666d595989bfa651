"""A realm ready for the service loop over HTTP: two stations, a requester, two approved
volunteers, a funded budget, and a bearer header for every role and scope."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any

from api.auth import create_token
from tests.e2e.conftest import bearer

_keys = itertools.count(1)
FUNDED_POINTS = 10_000


def key() -> str:
    return f"loop-{next(_keys)}-{datetime.now(timezone.utc).timestamp()}"


def keyed(headers: dict[str, str], idempotency_key: str | None = None) -> dict[str, str]:
    return {**headers, "Idempotency-Key": idempotency_key or key()}


def window(hours_from: float = 1, hours: float = 3) -> dict[str, str]:
    start = datetime.now(timezone.utc) + timedelta(hours=hours_from)
    return {"wanted_from": start.isoformat(), "wanted_until": (start + timedelta(hours=hours)).isoformat()}


async def build_loop(client: Any, tokens: Any, engine: Any) -> dict[str, Any]:
    realm, admin = tokens.realm, tokens.admin
    town = (await client.post("/v1/towns", json={"realm": realm, "name": "东镇"}, headers=admin)).json()
    home, far = [(await client.post("/v1/stations", json={"realm": realm, "town_id": town["id"], "name": name,
                                                           "setting": "rural"}, headers=admin)).json()
                 for name in ("家村", "远村")]
    people = {}
    for name, station in (("requester", home), ("volunteer", home), ("second", home), ("neighbour", home),
                          ("far", far)):
        made = await client.post("/v1/residents", json={"realm": realm, "station_id": station["id"],
                                                        "code": f"{name[:4].upper()}{realm}"}, headers=admin)
        assert made.status_code == 201, made.text
        people[name] = made.json()
    funded = await client.post("/v1/budgets/funding", json={"realm": realm, "asset": "civic", "amount": FUNDED_POINTS},
                               headers=keyed(admin))
    assert funded.status_code == 201, funded.text
    headers = {name: bearer(await create_token(engine, "resident", realm, resident_id=person["id"]))
               for name, person in people.items()}
    loop = {"realm": realm, "home": home, "far": far, "people": people, **headers,
            "home_organizer": bearer(await create_token(engine, "organizer", realm, station_id=home["id"])),
            "far_organizer": bearer(await create_token(engine, "organizer", realm, station_id=far["id"]))}
    for name in ("volunteer", "second"):
        applied = await client.post("/v1/volunteers", json={"skills": ["助老", "医疗"], "station_ids": [home["id"]],
                                                            "availability": "周末"}, headers=keyed(headers[name]))
        assert applied.status_code == 201, applied.text
        approved = await client.post(f"/v1/volunteers/{people[name]['id']}/decision", json={"approve": True},
                                     headers=keyed(loop["home_organizer"]))
        assert approved.status_code == 200, approved.text
    return loop


async def order(client: Any, loop: dict[str, Any], headers: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    body = {"category": "助老", "description": "帮忙买菜", "notes": "幸福路 8 号", **window(), **extra}
    made = await client.post("/v1/service-requests", json=body, headers=keyed(headers or loop["requester"]))
    assert made.status_code == 201, made.text
    return made.json()


async def step(client: Any, request_id: int, name: str, headers: dict[str, str], body: Any = None,
               idempotency_key: str | None = None) -> Any:
    return await client.post(f"/v1/service-requests/{request_id}/{name}", json=body,
                             headers=keyed(headers, idempotency_key))


async def done_request(client: Any, loop: dict[str, Any], minutes: int = 90) -> dict[str, Any]:
    """A request ordered, dispatched to the volunteer, accepted and done."""
    made = await order(client, loop)
    volunteer = loop["people"]["volunteer"]["id"]
    for name, headers, body in (("dispatch", loop["home_organizer"], {"volunteer_id": volunteer}),
                                ("accept", loop["volunteer"], None),
                                ("done", loop["volunteer"], {"minutes": minutes})):
        answer = await step(client, made["id"], name, headers, body)
        assert answer.status_code == 200, answer.text
    return answer.json()


async def balance(client: Any, loop: dict[str, Any], person: str) -> int:
    found = await client.get(f"/v1/residents/{loop['people'][person]['id']}", headers=loop[person])
    return next(a["balance"] for a in found.json()["accounts"] if a["asset"] == "civic")
