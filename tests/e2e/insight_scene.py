"""A realm with two stations (urban and rural), two named residents with phones who both
earned at one activity, a merchant, and a token per caller: for the insight tests."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from api.auth import create_token
from ledger.model import DEFAULT_TIMEZONE
from tests.conftest import new_realm_code
from tests.e2e.conftest import bearer

_keys = itertools.count()


def activity_start(now: datetime | None = None) -> datetime:
    """Three hours ago, but never before the start of the realm's current month: the
    scene's figures (registered this month, earned, leaderboards of this month) all fall in
    one realm month, even just after midnight on the 1st in the realm's time zone."""
    now = now or datetime.now(timezone.utc)
    local = now.astimezone(ZoneInfo(DEFAULT_TIMEZONE))
    month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return max(now - timedelta(hours=3), month_start.astimezone(timezone.utc))


@dataclass
class Scene:
    realm: str
    stations: list[int]
    residents: list[dict]          # [me, other]: id, code, display_name, phone
    activity_id: int
    merchant_id: int
    headers: dict[str, dict[str, str]]

    def key(self, role: str) -> dict[str, str]:
        return {**self.headers[role], "Idempotency-Key": f"insight-{next(_keys)}"}


ROLES = ("admin", "global_admin", "organizer", "station_organizer", "auditor", "merchant", "resident",
         "other_resident", "other_realm_admin")


async def make_scene(client, tokens, engine) -> Scene:
    realm, admin = tokens.realm, tokens.admin
    town = (await client.post("/v1/towns", json={"realm": realm, "name": "岳麓街道"}, headers=admin)).json()
    stations = [(await client.post("/v1/stations", json={"realm": realm, "town_id": town["id"], "name": name,
                                                         "setting": setting}, headers=admin)).json()["id"]
                for name, setting in (("桃子湖社区", "urban"), ("莲花村", "rural"))]
    residents = []
    for code, name, phone in (("ME", "张三丰", "13800000001"), ("OTHER", "李四光", "13900000002")):
        made = await client.post("/v1/residents", headers=admin, json={
            "realm": realm, "station_id": stations[0], "code": f"{code}{realm}", "display_name": name,
            "phone": phone})
        assert made.status_code == 201, made.text
        residents.append(made.json())
    funded = await client.post("/v1/budgets/funding", json={"realm": realm, "asset": "civic", "amount": 100_000},
                               headers={**admin, "Idempotency-Key": f"fund-{realm}"})
    assert funded.status_code == 201, funded.text
    starts = activity_start()
    activity = await client.post("/v1/activities", headers=admin, json={
        "realm": realm, "activity_type": "volunteering", "station_id": stations[0], "title": "清扫街道",
        "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat()})
    assert activity.status_code == 201, activity.text
    awarded = await client.post(f"/v1/activities/{activity.json()['id']}/attendance", headers={
        **admin, "Idempotency-Key": f"att-{realm}"}, json={"records": [
            {"resident_id": r["id"], "minutes": 90 + i * 30} for i, r in enumerate(residents)]})
    assert awarded.status_code == 200, awarded.text
    merchant = (await client.post("/v1/merchants", json={"realm": realm, "kind": "agri_shop", "name": "供销社"},
                                  headers=admin)).json()
    other_realm = new_realm_code()
    from ledger.service import Ledger
    await Ledger(engine).open_realm(other_realm, "别处")
    headers = {
        "admin": admin, "global_admin": tokens.global_admin, "organizer": tokens.organizer,
        "station_organizer": bearer(await create_token(engine, "organizer", realm, station_id=stations[0])),
        "auditor": tokens.auditor,
        "merchant": bearer(await create_token(engine, "merchant", realm, merchant_id=merchant["id"])),
        "resident": bearer(await create_token(engine, "resident", realm, resident_id=residents[0]["id"])),
        "other_resident": bearer(await create_token(engine, "resident", realm, resident_id=residents[1]["id"])),
        "other_realm_admin": bearer(await create_token(engine, "admin", other_realm)),
    }
    return Scene(realm, stations, residents, activity.json()["id"], merchant["id"], headers)


def expect(role: str, allowed: set[str] | tuple[str, ...], ok: int, response) -> None:
    status = ok if role in allowed else 403
    assert response.status_code == status, f"{role}: {response.status_code} {response.text[:300]}"
