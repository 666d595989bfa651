"""One resident's data, walked by every kind of caller (issue 11 item 2): the organizer of
the resident's station and a realm-wide organizer may; an organizer of another station
or realm may not; the resident itself may, another resident may not; a merchant never;
an auditor reads but never writes; an admin reads. One helper decides all of it
(`Principal.require_resident` through `require_resident_scope`)."""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from api.auth import create_token
from ledger import model
from tests.conftest import new_realm_code
from tests.e2e.conftest import bearer

VOUCHER_POINTS = 10
_keys = itertools.count()

# who may read a resident's data, and who may act for it
READERS = {"station_organizer", "realm_organizer", "resident", "auditor", "admin"}
ACTORS = {"station_organizer", "realm_organizer", "resident"}
EVERYONE = READERS | {"other_station_organizer", "other_realm_organizer", "other_resident", "merchant"}


@dataclass
class Scene:
    realm: str
    resident_id: int
    wallet_id: int
    activity_id: int
    item_id: int
    headers: dict[str, dict[str, str]]

    def key(self, role: str) -> dict[str, str]:
        return {**self.headers[role], "Idempotency-Key": f"scope-{next(_keys)}"}


@pytest.fixture
async def scene(client, tokens, engine, ledger) -> Scene:
    realm, admin = tokens.realm, tokens.admin
    town = (await client.post("/v1/towns", json={"realm": realm, "name": "岳麓街道"}, headers=admin)).json()
    stations = [(await client.post("/v1/stations", json={"realm": realm, "town_id": town["id"], "name": name,
                                                         "setting": "urban"}, headers=admin)).json()["id"]
                for name in ("桃子湖社区", "莲花村")]
    residents = []
    for code in ("S0001", "S0002"):
        made = await client.post("/v1/residents", json={"realm": realm, "station_id": stations[0],
                                                         "code": f"{code}{realm}"}, headers=admin)
        residents.append(made.json()["id"])
    funded = await client.post("/v1/budgets/funding", json={"realm": realm, "asset": "civic", "amount": 10_000},
                               headers={**admin, "Idempotency-Key": "scope-fund"})
    assert funded.status_code == 201, funded.text
    budget = await ledger.system_account(realm, "budget", "civic")
    wallet = await ledger.owned_account(realm, "resident", "civic", resident_id=residents[0])
    await ledger.post(model.EntryDraft(realm, "earn", (model.Line(budget["id"], -5_000),
                                                       model.Line(wallet["id"], 5_000)), "test"))
    merchant = (await client.post("/v1/merchants", json={"realm": realm, "kind": "general", "name": "供销社"},
                                  headers=admin)).json()
    other_realm = new_realm_code()
    await ledger.open_realm(other_realm, "别处")
    headers = {
        "station_organizer": bearer(await create_token(engine, "organizer", realm, station_id=stations[0])),
        "realm_organizer": tokens.organizer,
        "other_station_organizer": bearer(await create_token(engine, "organizer", realm, station_id=stations[1])),
        "other_realm_organizer": bearer(await create_token(engine, "organizer", other_realm)),
        "resident": bearer(await create_token(engine, "resident", realm, resident_id=residents[0])),
        "other_resident": bearer(await create_token(engine, "resident", realm, resident_id=residents[1])),
        "merchant": bearer(await create_token(engine, "merchant", realm, merchant_id=merchant["id"])),
        "auditor": tokens.auditor,
        "admin": admin,
    }
    activity = await client.post("/v1/activities", headers=admin, json={
        "realm": realm, "activity_type": "talk", "station_id": stations[0], "title": "宣讲",
        "starts_at": "2026-01-05T09:00:00+08:00", "ends_at": "2026-01-05T11:00:00+08:00"})
    assert activity.status_code == 201, activity.text
    item = await client.post(f"/v1/merchants/{merchant['id']}/catalogue", json={"name": "香皂", "price": 5},
                             headers=headers["merchant"])
    return Scene(realm, residents[0], wallet["id"], activity.json()["id"], item.json()["id"], headers)


async def a_voucher(client, scene: Scene) -> int:
    issued = await client.post("/v1/vouchers", json={"asset": "civic", "amount": VOUCHER_POINTS},
                               headers=scene.key("resident"))
    assert issued.status_code == 201, issued.text
    return issued.json()["id"]


def expect(role: str, allowed: set[str], ok: int, response) -> None:
    status = ok if role in allowed else 403
    assert response.status_code == status, f"{role}: {response.status_code} {response.text[:200]}"


async def test_every_read_of_a_residents_data_follows_its_scope(client, scene: Scene):
    voucher = await a_voucher(client, scene)
    reads = [f"/v1/accounts/{scene.wallet_id}", f"/v1/accounts/{scene.wallet_id}/postings",
             f"/v1/accounts/{scene.wallet_id}/balance", f"/v1/vouchers/{voucher}",
             f"/v1/vouchers?resident_id={scene.resident_id}", f"/v1/residents/{scene.resident_id}",
             f"/v1/residents/{scene.resident_id}/awards", f"/v1/residents/{scene.resident_id}/totals"]
    for role in sorted(EVERYONE):
        for path in reads:
            expect(role, READERS, 200, await client.get(path, headers=scene.headers[role]))
        # the code's renderings: the resident's alone (it issued this voucher itself)
        for rendering in ("qr.png", "qr.svg", "voucher.pdf"):
            response = await client.get(f"/v1/vouchers/{voucher}/{rendering}", headers=scene.headers[role])
            expect(role, {"resident"}, 200, response)
        # a published activity of the resident's station: its organizers, auditors and
        # admins, and every resident of the realm (what is on, to sign up for)
        activity = await client.get(f"/v1/activities/{scene.activity_id}", headers=scene.headers[role])
        expect(role, {"station_organizer", "realm_organizer", "auditor", "admin", "resident", "other_resident"},
               200, activity)


async def test_a_station_organizer_lists_only_its_own_residents_vouchers(client, scene: Scene):
    await a_voucher(client, scene)
    whole_realm = await client.get("/v1/vouchers", headers=scene.headers["station_organizer"])
    assert whole_realm.status_code == 403
    for role in ("realm_organizer", "auditor", "admin"):
        listed = await client.get("/v1/vouchers", headers=scene.headers[role])
        assert listed.status_code == 200 and listed.json()["items"], role


async def test_every_write_for_a_resident_follows_its_scope(client, scene: Scene):
    for role in sorted(EVERYONE):
        cancelled = await client.post(f"/v1/vouchers/{await a_voucher(client, scene)}/cancel", headers=scene.key(role))
        expect(role, ACTORS, 200, cancelled)
        body = {"asset": "civic", "amount": VOUCHER_POINTS, "resident_id": scene.resident_id}
        expect(role, ACTORS, 201, await client.post("/v1/vouchers", json=body, headers=scene.key(role)))
        taken = await client.post(f"/v1/rewards/{scene.item_id}/redeem", json={"resident_id": scene.resident_id},
                                  headers=scene.key(role))
        expect(role, ACTORS, 201, taken)
