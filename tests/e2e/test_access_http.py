"""Enrolment and tokens over HTTP: claim once, expiry, locking, revocation, and who may
enrol, list and revoke."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from access import model
from access.service import Access
from api.auth import create_token
from tests.e2e.conftest import bearer


@pytest.fixture
async def people(client, tokens, engine):
    """Two stations with a resident each, their organizers, a merchant."""
    realm, admin = tokens.realm, tokens.admin
    town = (await client.post("/v1/towns", json={"realm": realm, "name": "城关镇"}, headers=admin)).json()
    stations, residents = [], []
    for n, name in enumerate(("东站", "西站")):
        station = (await client.post("/v1/stations", json={"realm": realm, "town_id": town["id"], "name": name,
                                                            "setting": "urban"}, headers=admin)).json()
        resident = (await client.post("/v1/residents", json={
            "realm": realm, "station_id": station["id"], "code": f"P{n}{realm}", "display_name": f"李{n}"},
            headers=admin)).json()
        stations.append(station)
        residents.append(resident)
    organizers = [bearer(await create_token(engine, "organizer", realm, station_id=s["id"])) for s in stations]
    return {"stations": stations, "residents": residents, "organizers": organizers}


async def enrol(client, headers, realm, resident_id, **extra):
    return await client.post("/v1/enrolments", json={"realm": realm, "role": "resident",
                                                     "resident_id": resident_id, **extra}, headers=headers)


async def test_a_claimed_code_gives_a_working_device_token_once(client, tokens, people):
    resident = people["residents"][0]
    made = await enrol(client, people["organizers"][0], tokens.realm, resident["id"])
    assert made.status_code == 201, made.text
    enrolment = made.json()
    assert enrolment["link"] == f"/app/enrol#code={enrolment['code']}"
    assert enrolment["name"] == "李0" and enrolment["station_name"] == "东站"
    card = await client.get(enrolment["card_url"], headers=people["organizers"][0])
    assert card.status_code == 200 and card.content.startswith(b"%PDF")

    claimed = await client.post("/v1/enrolments/claim", json={"code": enrolment["code"].lower(),
                                                              "device_label": "手机"})
    assert claimed.status_code == 201, claimed.text
    device = claimed.json()
    assert device["role"] == "resident" and device["resident_id"] == resident["id"]
    expires = datetime.fromisoformat(device["expires_at"])
    assert timedelta(days=179) < expires - datetime.now(timezone.utc) <= timedelta(days=180)
    me = await client.get("/v1/whoami", headers=bearer(device["token"]))
    assert me.json()["resident_id"] == resident["id"]

    again = await client.post("/v1/enrolments/claim", json={"code": enrolment["code"]})
    assert again.status_code == 409 and again.json()["code"] == "enrolment_claimed"


async def test_wrong_guesses_lock_the_code_even_for_the_right_one(client, tokens, people):
    enrolment = (await enrol(client, tokens.admin, tokens.realm, people["residents"][0]["id"])).json()
    code = model.normalize_code(enrolment["code"])
    wrong_body = code[:model.SELECTOR_LENGTH] + ("2" if code[5] != "2" else "3") + code[6:-1]
    wrong = wrong_body + model.check_character(wrong_body)
    answers = [(await client.post("/v1/enrolments/claim", json={"code": wrong})).json()["code"]
               for _ in range(6)]
    assert answers == ["enrolment_code_invalid"] * 5 + ["enrolment_locked"]
    right = await client.post("/v1/enrolments/claim", json={"code": enrolment["code"]})
    assert right.status_code == 422 and right.json()["code"] == "enrolment_locked"
    last = enrolment["code"][-1]
    typo = await client.post("/v1/enrolments/claim", json={"code": enrolment["code"][:-1] + ("2" if last != "2" else "3")})
    assert typo.status_code == 422 and typo.json()["code"] == "enrolment_code_invalid"   # caught by the check character


async def test_an_expired_code_is_refused(engine, client, tokens, people):
    clock = [datetime.now(timezone.utc) - timedelta(hours=73)]
    past = Access(engine, clock=lambda: clock[0])
    enrolment = await past.create_enrolment(
        model.Holder("resident", tokens.realm, resident_id=people["residents"][0]["id"]), "test")
    refused = await client.post("/v1/enrolments/claim", json={"code": enrolment["code"]})
    assert refused.status_code == 422 and refused.json()["code"] == "enrolment_expired"


async def test_a_revoked_token_answers_401_token_revoked_at_once(client, tokens, people):
    enrolment = (await enrol(client, tokens.admin, tokens.realm, people["residents"][0]["id"])).json()
    device = (await client.post("/v1/enrolments/claim", json={"code": enrolment["code"]})).json()
    headers = bearer(device["token"])
    assert (await client.get("/v1/whoami", headers=headers)).status_code == 200
    revoked = await client.delete(f"/v1/tokens/{device['token_id']}", headers=people["organizers"][0])
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    answer = await client.get("/v1/whoami", headers=headers)
    assert answer.status_code == 401 and answer.json()["code"] == "token_revoked"


async def test_who_may_enrol(client, tokens, people):
    east, west = people["residents"]
    realm = tokens.realm
    assert (await enrol(client, people["organizers"][0], realm, east["id"])).status_code == 201
    assert (await enrol(client, people["organizers"][0], realm, west["id"])).status_code == 403
    for headers in (tokens.auditor, tokens.merchant, tokens.resident, tokens.other_realm_admin):
        assert (await enrol(client, headers, realm, east["id"])).status_code == 403
    organizer = await client.post("/v1/enrolments", json={
        "realm": realm, "role": "organizer", "station_id": people["stations"][0]["id"]},
        headers=people["organizers"][0])
    assert organizer.status_code == 403
    by_admin = await client.post("/v1/enrolments", json={
        "realm": realm, "role": "organizer", "station_id": people["stations"][0]["id"]}, headers=tokens.admin)
    assert by_admin.status_code == 201
    assert (await enrol(client, tokens.global_admin, realm, east["id"])).status_code == 201
    nobody = await enrol(client, tokens.admin, realm, 99_999_999)
    assert nobody.status_code == 422 and nobody.json()["code"] == "unknown_holder"
    no_merchant = await client.post("/v1/enrolments", json={"realm": realm, "role": "merchant",
                                                            "merchant_id": 99_999_999}, headers=tokens.admin)
    assert no_merchant.json()["code"] == "unknown_holder"
    unauthenticated = await enrol(client, {}, realm, east["id"])
    assert unauthenticated.status_code == 401
    enrolment = (await enrol(client, tokens.admin, realm, east["id"])).json()
    wrong_station_card = await client.get(enrolment["card_url"], headers=people["organizers"][1])
    assert wrong_station_card.status_code == 403
    other_code = (await enrol(client, tokens.admin, realm, east["id"])).json()["code"]
    wrong_code = await client.get(f"/v1/enrolments/{enrolment['id']}/card.pdf",
                                  params={"code": other_code}, headers=tokens.admin)
    assert wrong_code.status_code == 403


async def test_who_may_list_and_revoke_tokens(client, tokens, people, engine):
    realm = tokens.realm
    east, west = people["residents"]
    devices = []
    for resident in (east, west):
        enrolment = (await enrol(client, tokens.admin, realm, resident["id"])).json()
        devices.append((await client.post("/v1/enrolments/claim", json={"code": enrolment["code"]})).json())
    east_device, west_device = devices

    def ids(answer):
        assert answer.status_code == 200, answer.text
        return {item["id"] for item in answer.json()["items"]}

    assert {east_device["token_id"], west_device["token_id"]} <= ids(await client.get("/v1/tokens", headers=tokens.admin))
    by_east_organizer = ids(await client.get("/v1/tokens", headers=people["organizers"][0]))
    assert east_device["token_id"] in by_east_organizer and west_device["token_id"] not in by_east_organizer
    own = ids(await client.get("/v1/tokens", headers=bearer(east_device["token"])))
    assert own == {east_device["token_id"]}
    other_realm = ids(await client.get("/v1/tokens", headers=tokens.other_realm_admin))
    assert east_device["token_id"] not in other_realm
    assert (await client.get("/v1/tokens", params={"resident_id": west["id"]},
                             headers=bearer(east_device["token"]))).status_code == 403

    for headers in (people["organizers"][1], bearer(west_device["token"]), tokens.merchant,
                    tokens.other_realm_admin):
        refused = await client.delete(f"/v1/tokens/{east_device['token_id']}", headers=headers)
        assert refused.status_code == 403, headers
    auditor = await client.delete(f"/v1/tokens/{east_device['token_id']}", headers=tokens.auditor)
    assert auditor.status_code == 403
    signed_out = await client.delete(f"/v1/tokens/{east_device['token_id']}", headers=bearer(east_device["token"]))
    assert signed_out.status_code == 200
    assert (await client.get("/v1/whoami", headers=bearer(east_device["token"]))).json()["code"] == "token_revoked"
    by_admin = await client.delete(f"/v1/tokens/{west_device['token_id']}", headers=tokens.admin)
    assert by_admin.status_code == 200
    missing = await client.delete("/v1/tokens/999999999", headers=tokens.admin)
    assert missing.status_code == 404


async def test_tokens_for_nobody_are_refused(engine, tokens):
    from access.errors import UnknownHolder

    with pytest.raises(UnknownHolder):
        await create_token(engine, "resident", tokens.realm, resident_id=99_999_999)
    with pytest.raises(UnknownHolder):
        await create_token(engine, "organizer", tokens.realm, station_id=99_999_999)


async def test_an_expired_device_token_answers_token_expired(engine, client, tokens, people):
    clock = [datetime.now(timezone.utc) - timedelta(days=200)]
    past = Access(engine, clock=lambda: clock[0])
    enrolment = await past.create_enrolment(
        model.Holder("resident", tokens.realm, resident_id=people["residents"][0]["id"]), "test")
    device = await past.claim(enrolment["code"], "test")
    answer = await client.get("/v1/whoami", headers=bearer(device["token"]))
    assert answer.status_code == 401 and answer.json()["code"] == "token_expired"
