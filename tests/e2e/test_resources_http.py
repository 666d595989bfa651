"""Resources and reservations over HTTP: every endpoint walked by every role (who may,
who gets 403, the scope of each), priority points in the history, local alternatives,
and bad input answered with a clear code, never a 500."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

import pytest

from api.auth import create_token
from merchants.service import Merchants
from tests.e2e.conftest import bearer
from tests.resources_support import make_world, next_monday

PRICE = 25


def iso(hours: float) -> str:
    return (datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=hours)).isoformat()


def keyed(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Idempotency-Key": f"k-{secrets.token_hex(8)}"}


@pytest.fixture
async def desk(client, tokens, engine, ledger):
    """A realm's people, each with a token: a provider (a service_provider merchant),
    another provider, a general merchant, organizers of the whole realm and of stations,
    residents with points."""
    realm = tokens.realm
    world = await make_world(engine, ledger, realm, residents=2)
    other_world_merchant = await Merchants(engine, ledger).create(realm, "service_provider", "律师协会")
    general = await Merchants(engine, ledger).create(realm, "general", "小卖部")
    provider = (await client.post("/v1/resource-providers", json={
        "realm": realm, "name": "县医院", "merchant_id": world.merchant_id}, headers=keyed(tokens.admin))).json()
    other_provider = (await client.post("/v1/resource-providers", json={
        "realm": realm, "name": "律师协会", "merchant_id": other_world_merchant["id"]},
        headers=keyed(tokens.admin))).json()
    return {
        "world": world, "provider": provider, "other_provider": other_provider,
        "provider_token": bearer(await create_token(engine, "merchant", realm, merchant_id=world.merchant_id)),
        "other_provider_token": bearer(await create_token(engine, "merchant", realm,
                                                          merchant_id=other_world_merchant["id"])),
        "general_merchant": bearer(await create_token(engine, "merchant", realm, merchant_id=general["id"])),
        "home_organizer": bearer(await create_token(engine, "organizer", realm, station_id=world.home.id)),
        "far_organizer": bearer(await create_token(engine, "organizer", realm, station_id=world.far.id)),
        "resident": bearer(await create_token(engine, "resident", realm, resident_id=world.residents[0])),
        "other_resident": bearer(await create_token(engine, "resident", realm, resident_id=world.residents[1])),
    }


async def new_resource(client, headers, provider_id, **fields):
    made = await client.post("/v1/resources", json={
        "provider_id": provider_id, "kind": "health", "title": "体检", "scope": "realm", **fields}, headers=keyed(headers))
    assert made.status_code == 201, made.text
    return made.json()


async def new_slot(client, headers, resource_id, hours=1.0, capacity=3, priority_places=0, start=None):
    start = start or datetime.fromisoformat(iso(hours))
    made = await client.post(f"/v1/resources/{resource_id}/slots", json={
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat(), "capacity": capacity,
        "priority_places": priority_places}, headers=keyed(headers))
    assert made.status_code == 201, made.text
    return made.json()


async def test_a_priority_booking_is_held_then_paid_and_the_history_says_so(client, tokens, desk):
    world = desk["world"]
    health = await new_resource(client, desk["provider_token"], desk["provider"]["id"],
                                station_id=world.home.id, priority_price=PRICE, priority_places=1)
    slot = await new_slot(client, desk["provider_token"], health["id"], priority_places=1)
    assert slot["free_places"] == 2 and slot["free_priority_places"] == 3
    booking = await client.post("/v1/reservations", json={"slot_id": slot["id"], "priority": True},
                                headers=keyed(desk["resident"]))
    assert booking.status_code == 201, booking.text
    booked = booking.json()
    assert booked["points"] == "held" and booked["price"] == PRICE and booked["alternatives"] == []
    today = datetime.fromisoformat(booked["starts_at"]).astimezone(timezone(timedelta(hours=8))).date().isoformat()
    listed = await client.get("/v1/reservations", params={"realm": tokens.realm, "day": today},
                              headers=desk["provider_token"])
    assert [r["id"] for r in listed.json()["items"]] == [booked["id"]]
    marked = await client.post(f"/v1/reservations/{booked['id']}/attended", headers=keyed(desk["provider_token"]))
    assert marked.status_code == 200 and marked.json()["points"] == "captured"
    again = await client.post(f"/v1/reservations/{booked['id']}/attended", headers=keyed(desk["provider_token"]))
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    history = (await client.get(f"/v1/residents/{world.residents[0]}/history", headers=desk["resident"])).json()
    paid = history["items"][0]
    assert (paid["what"], paid["amount"], paid["spent"]) == ("reservation_paid", -PRICE, PRICE)
    assert (paid["reservation_title"], paid["merchant_name"], paid["reservation_status"]) == ("体检", "县医院", "attended")
    assert history["balance"] == 1000 - PRICE
    audit = await client.get("/v1/audit/reconciliation", params={"realm": tokens.realm}, headers=tokens.auditor)
    assert audit.status_code == 200 and audit.json()["ok"], audit.json()["failed"]


async def test_far_booking_answers_alternatives_and_the_list_is_local_first(client, tokens, desk):
    world, token = desk["world"], desk["provider_token"]
    far = await new_resource(client, token, desk["provider"]["id"], station_id=world.far.id, title="远处")
    near = await new_resource(client, token, desk["provider"]["id"], station_id=world.neighbour.id, title="邻村")
    online = await new_resource(client, token, desk["provider"]["id"], online=True, title="线上")
    here = await new_resource(client, token, desk["provider"]["id"], station_id=world.home.id, title="本站")
    far_slot = await new_slot(client, token, far["id"], start=next_monday(10))   # one week, whenever it runs
    await new_slot(client, token, near["id"], start=next_monday(11))
    listed = await client.get("/v1/resources", params={"realm": tokens.realm, "kind": "health"},
                              headers=desk["resident"])
    mine = [r for r in listed.json()["items"] if r["realm"] == tokens.realm]   # (other tests' shared ones too)
    assert [(r["title"], r["place"]) for r in mine] == [
        ("本站", "same_station"), ("邻村", "same_town"), ("线上", "online"), ("远处", "elsewhere")]
    from_far = await client.get("/v1/resources", params={"realm": tokens.realm, "near": world.far.id,
                                                         "kind": "health"}, headers=tokens.admin)
    assert from_far.json()["items"][0]["title"] == "远处"
    unranked = await client.get("/v1/resources", params={"realm": tokens.realm}, headers=tokens.admin)
    assert {r["place"] for r in unranked.json()["items"]} == {None}     # no station to rank from
    booked = await client.post("/v1/reservations", json={"slot_id": far_slot["id"]}, headers=keyed(desk["resident"]))
    assert booked.status_code == 201
    assert [(a["title"], a["place"]) for a in booked.json()["alternatives"]
            if a["realm"] == tokens.realm] == [("邻村", "same_town")]
    assert here["id"] and online["id"]


async def test_every_role_on_every_endpoint(client, tokens, desk):
    world, realm = desk["world"], tokens.realm
    provider_id = desk["provider"]["id"]
    # providers: an admin registers; a merchant sees itself only; residents never
    for headers, status in ((tokens.organizer, 403), (desk["provider_token"], 403), (tokens.auditor, 403),
                            (desk["resident"], 403), (tokens.other_realm_admin, 403)):
        refused = await client.post("/v1/resource-providers", json={"realm": realm, "name": "x"}, headers=keyed(headers))
        assert refused.status_code == status, (headers, refused.text)
    for headers, count in ((tokens.admin, 2), (tokens.organizer, 2), (tokens.auditor, 2), (desk["provider_token"], 1)):
        listed = await client.get("/v1/resource-providers", params={"realm": realm}, headers=headers)
        assert listed.status_code == 200 and len(listed.json()["items"]) == count
    for headers in (desk["resident"], tokens.other_realm_admin, desk["general_merchant"]):
        assert (await client.get("/v1/resource-providers", params={"realm": realm}, headers=headers)).status_code == 403
    mine = await client.get("/v1/resource-providers/mine", headers=desk["provider_token"])
    assert mine.json()["id"] == provider_id
    # resources and slots: an admin or the provider's own merchant
    made = await new_resource(client, tokens.admin, provider_id, station_id=world.home.id, priority_price=PRICE,
                              cancel_cutoff_h=0)
    for headers in (desk["other_provider_token"], tokens.organizer, desk["home_organizer"], desk["resident"],
                    tokens.auditor, tokens.other_realm_admin, desk["general_merchant"]):
        refused = await client.post("/v1/resources", json={"provider_id": provider_id, "kind": "health",
                                                           "title": "x", "scope": "realm", "online": True},
                                    headers=keyed(headers))
        assert refused.status_code == 403, (headers, refused.text)
        slot_refused = await client.post(f"/v1/resources/{made['id']}/slots", json={
            "starts_at": iso(5), "ends_at": iso(6), "capacity": 2}, headers=keyed(headers))
        assert slot_refused.status_code == 403
    slot = await new_slot(client, desk["provider_token"], made["id"], hours=1)
    weekly = await client.post(f"/v1/resources/{made['id']}/slots/weekly", json={
        "first_starts_at": iso(50), "duration_min": 60, "weeks": 3, "capacity": 4}, headers=keyed(tokens.admin))
    assert weekly.status_code == 201 and len(weekly.json()["items"]) == 3
    for headers in (tokens.admin, tokens.organizer, desk["home_organizer"], desk["resident"], tokens.auditor,
                    desk["provider_token"]):
        assert (await client.get(f"/v1/resources/{made['id']}/slots", headers=headers)).status_code == 200
        assert (await client.get("/v1/resources", params={"realm": realm}, headers=headers)).status_code == 200
    for headers in (tokens.other_realm_admin, desk["other_provider_token"]):
        assert (await client.get(f"/v1/resources/{made['id']}", headers=headers)).status_code == 403
    other_list = await client.get("/v1/resources", params={"realm": realm}, headers=desk["other_provider_token"])
    assert other_list.json()["items"] == []            # a provider lists only its own
    # booking: residents for themselves, organizers in scope, admins; never merchants or auditors
    for headers, body in ((tokens.auditor, {"station_id": world.home.id}),
                          (desk["provider_token"], {"station_id": world.home.id}),
                          (desk["far_organizer"], {"station_id": world.home.id}),
                          (desk["far_organizer"], {"resident_id": world.residents[0]}),
                          (desk["resident"], {"resident_id": world.residents[1]}),
                          (tokens.other_realm_admin, {"station_id": world.home.id})):
        refused = await client.post("/v1/reservations", json={"slot_id": slot["id"], **body}, headers=keyed(headers))
        assert refused.status_code == 403, (body, refused.text)
    by_station = await client.post("/v1/reservations", json={"slot_id": slot["id"], "station_id": world.home.id},
                                   headers=keyed(desk["home_organizer"]))
    assert by_station.status_code == 201, by_station.text
    assert by_station.json()["station_name"].startswith("站")     # who booked, by name
    for_resident = await client.post("/v1/reservations", json={"slot_id": slot["id"], "resident_id": world.residents[1]},
                                     headers=keyed(desk["home_organizer"]))
    assert for_resident.status_code == 201
    own = await client.post("/v1/reservations", json={"slot_id": slot["id"]}, headers=keyed(desk["resident"]))
    assert own.status_code == 201
    ids = {"station": by_station.json()["id"], "other": for_resident.json()["id"], "own": own.json()["id"]}
    # reading: each its own scope
    expectations = [
        (desk["resident"], {ids["own"]}), (desk["other_resident"], {ids["other"]}),
        (desk["home_organizer"], set(ids.values())), (desk["far_organizer"], set()),
        (tokens.admin, set(ids.values())), (tokens.auditor, set(ids.values())),
        (desk["provider_token"], set(ids.values())), (desk["other_provider_token"], set()),
    ]
    for headers, seen in expectations:
        listed = await client.get("/v1/reservations", params={"realm": realm}, headers=headers)
        assert listed.status_code == 200 and {r["id"] for r in listed.json()["items"]} == seen, headers
        for name, reservation_id in ids.items():
            single = await client.get(f"/v1/reservations/{reservation_id}", headers=headers)
            assert single.status_code == (200 if reservation_id in seen else 403), (headers, name)
    assert (await client.get("/v1/reservations", params={"realm": realm}, headers=tokens.other_realm_admin)
            ).status_code == 403
    assert (await client.get("/v1/reservations", params={"realm": realm}, headers=desk["general_merchant"])
            ).status_code == 403
    # marks: the provider (or an admin of its realm); another provider is refused by code
    wrong = await client.post(f"/v1/reservations/{ids['own']}/attended", headers=keyed(desk["other_provider_token"]))
    assert wrong.status_code == 403 and wrong.json()["code"] == "reservation_of_other_provider"
    for headers in (desk["resident"], desk["home_organizer"], tokens.auditor, tokens.other_realm_admin):
        refused = await client.post(f"/v1/reservations/{ids['own']}/no-show", headers=keyed(headers))
        assert refused.status_code == 403
    # cancel: the booker (resident, organizer) before the cut-off; the provider any time
    for headers in (desk["other_resident"], desk["far_organizer"], desk["other_provider_token"], tokens.auditor):
        refused = await client.post(f"/v1/reservations/{ids['own']}/cancel", headers=keyed(headers))
        assert refused.status_code == 403
    cancelled = await client.post(f"/v1/reservations/{ids['own']}/cancel", headers=keyed(desk["resident"]))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    by_provider = await client.post(f"/v1/reservations/{ids['station']}/cancel", headers=keyed(desk["provider_token"]))
    assert by_provider.json()["status"] == "provider_cancelled"
    by_admin = await client.post(f"/v1/reservations/{ids['other']}/attended", headers=keyed(tokens.admin))
    assert by_admin.status_code == 200 and by_admin.json()["status"] == "attended"


async def test_bad_input_is_a_clear_code_and_changes_nothing(client, tokens, desk, engine, ledger):
    from tests.conftest import new_realm_code

    world, realm, token = desk["world"], tokens.realm, desk["provider_token"]
    made = await new_resource(client, token, desk["provider"]["id"], station_id=world.home.id, priority_price=PRICE,
                              cancel_cutoff_h=24)
    slot = await new_slot(client, token, made["id"], hours=5, capacity=1)
    cases = [
        ("/v1/resources", {"provider_id": desk["provider"]["id"], "kind": "magic", "title": "x", "scope": "realm",
                           "online": True}, 422, "invalid_resource"),
        ("/v1/resources", {"provider_id": desk["provider"]["id"], "kind": "health", "title": "x", "scope": "realm"},
         422, "invalid_resource"),
        ("/v1/resources", {"provider_id": desk["provider"]["id"], "kind": "health", "title": "x", "scope": "realm",
                           "online": True, "priority_price": -1}, 422, "invalid_resource"),
        ("/v1/resources", {"provider_id": 10**15, "kind": "health", "title": "x", "scope": "realm", "online": True},
         404, "provider_not_found"),
        ("/v1/resources", {"provider_id": "1", "kind": "health"}, 400, "invalid_request"),
        ("/v1/resources", {"provider_id": 1, "extra": 1}, 400, "invalid_request"),
        (f"/v1/resources/{made['id']}/slots", {"starts_at": iso(-2), "ends_at": iso(-1), "capacity": 1}, 422,
         "slot_past"),
        (f"/v1/resources/{made['id']}/slots", {"starts_at": iso(3), "ends_at": iso(2), "capacity": 1}, 422,
         "invalid_slot"),
        (f"/v1/resources/{made['id']}/slots", {"starts_at": "soon", "ends_at": iso(2), "capacity": 1}, 422,
         "invalid_timestamp"),
        (f"/v1/resources/{made['id']}/slots", {"starts_at": iso(3), "ends_at": iso(4), "capacity": 0}, 422,
         "invalid_slot"),
        (f"/v1/resources/{made['id']}/slots/weekly", {"first_starts_at": iso(3), "duration_min": 60, "weeks": 99,
                                                      "capacity": 1}, 422, "invalid_slot_pattern"),
    ]
    for path, body, status, code in cases:
        answer = await client.post(path, json=body, headers=keyed(token))
        assert (answer.status_code, answer.json().get("code")) == (status, code), (path, body, answer.text)
    same_time = await client.post(f"/v1/resources/{made['id']}/slots", json={
        "starts_at": slot["starts_at"], "ends_at": slot["ends_at"], "capacity": 2}, headers=keyed(token))
    assert same_time.status_code == 409 and same_time.json()["code"] == "slot_exists"
    again = await client.post(f"/v1/resources/{made['id']}/slots", json={
        "starts_at": slot["starts_at"], "ends_at": slot["ends_at"], "capacity": 1}, headers=keyed(token))
    assert again.json()["id"] == slot["id"] and again.headers.get("Idempotent-Replayed") == "true"
    first = await client.post("/v1/reservations", json={"slot_id": slot["id"], "priority": True},
                              headers=keyed(desk["resident"]))
    assert first.status_code == 201
    bookings = [
        ({"slot_id": slot["id"]}, desk["resident"], 409, "already_booked"),
        ({"slot_id": slot["id"]}, desk["other_resident"], 422, "slot_full"),
        ({"slot_id": 10**15}, desk["resident"], 404, "slot_not_found"),
        ({"slot_id": slot["id"], "station_id": world.home.id, "resident_id": world.residents[0]},
         desk["home_organizer"], 422, "invalid_booking"),
        ({"slot_id": slot["id"], "priority": "yes"}, desk["resident"], 400, "invalid_request"),
    ]
    for body, headers, status, code in bookings:
        answer = await client.post("/v1/reservations", json=body, headers=keyed(headers))
        assert (answer.status_code, answer.json().get("code")) == (status, code), (body, answer.text)
    missing_key = await client.post("/v1/reservations", json={"slot_id": slot["id"]}, headers=desk["other_resident"])
    assert missing_key.json()["code"] == "idempotency_key_required"
    late = await client.post(f"/v1/reservations/{first.json()['id']}/cancel", headers=keyed(desk["resident"]))
    assert late.status_code == 422 and late.json()["code"] == "cancel_cutoff_passed"
    assert (await client.get(f"/v1/reservations/{first.json()['id']}", headers=desk["resident"])).json()["status"] \
        == "booked"
    for params in ({"realm": realm, "kind": "magic"}, {"realm": realm, "near": 10**15}, {"realm": realm, "cursor": "x"},
                   {"realm": realm, "limit": 0}, {"realm": realm, "near": "abc"}):
        answer = await client.get("/v1/resources", params=params, headers=tokens.admin)
        assert 400 <= answer.status_code < 500, (params, answer.text)
    bad_day = await client.get("/v1/reservations", params={"realm": realm, "day": "tomorrow"}, headers=tokens.admin)
    assert bad_day.status_code == 422
    # another realm's realm-scoped resource
    other = new_realm_code()
    await ledger.open_realm(other, "外区")
    stranger_world = await make_world(engine, ledger, other, residents=1)
    stranger = bearer(await create_token(engine, "resident", other, resident_id=stranger_world.residents[0]))
    shut = await client.post("/v1/reservations", json={"slot_id": slot["id"]}, headers=keyed(stranger))
    assert shut.status_code == 422 and shut.json()["code"] == "resource_out_of_scope"
    institution = await client.post("/v1/resource-providers", json={"realm": realm, "name": "农科院"},
                                    headers=keyed(tokens.admin))
    priced = await client.post("/v1/resources", json={
        "provider_id": institution.json()["id"], "kind": "agri_tech", "title": "技术员", "scope": "shared",
        "online": True, "priority_price": 5}, headers=keyed(tokens.admin))
    assert priced.json()["code"] == "priority_needs_merchant"
    general = await client.post("/v1/resource-providers", json={"realm": realm, "name": "店",
                                                                "merchant_id": 10**15}, headers=keyed(tokens.admin))
    assert general.json()["code"] == "merchant_not_found"


async def test_a_retried_create_answers_the_first_and_another_body_is_refused(client, tokens, desk):
    key = {**desk["provider_token"], "Idempotency-Key": "make-the-resource-once"}
    body = {"provider_id": desk["provider"]["id"], "kind": "legal", "title": "法律咨询", "scope": "shared",
            "online": True}
    first = await client.post("/v1/resources", json=body, headers=key)
    again = await client.post("/v1/resources", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers.get("Idempotent-Replayed") == "true"
    other = await client.post("/v1/resources", json={**body, "title": "另一个"}, headers=key)
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    missing = await client.post("/v1/resources", json=body, headers=desk["provider_token"])
    assert missing.json()["code"] == "idempotency_key_required"
    listed = await client.get("/v1/resources", params={"realm": tokens.realm, "kind": "legal"},
                              headers=desk["provider_token"])
    assert [r["id"] for r in listed.json()["items"]] == [first.json()["id"]]


async def test_the_provider_cancels_a_slot_and_the_points_come_back(client, tokens, desk):
    world, token = desk["world"], desk["provider_token"]
    made = await new_resource(client, token, desk["provider"]["id"], station_id=world.home.id, priority_price=PRICE)
    slot = await new_slot(client, token, made["id"], hours=30)
    booked = await client.post("/v1/reservations", json={"slot_id": slot["id"], "priority": True},
                               headers=keyed(desk["resident"]))
    assert booked.status_code == 201
    path = f"/v1/resources/{made['id']}/slots/{slot['id']}/cancel"
    for headers in (desk["other_provider_token"], desk["resident"], desk["home_organizer"], tokens.auditor,
                    tokens.other_realm_admin):
        assert (await client.post(path, headers=keyed(headers))).status_code == 403
    cancelled = await client.post(path, headers=keyed(token))
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["released"], cancelled.json()["free_places"]) == (1, 0)
    mine = await client.get(f"/v1/reservations/{booked.json()['id']}", headers=desk["resident"])
    assert (mine.json()["status"], mine.json()["points"]) == ("provider_cancelled", "released")
    refused = await client.post("/v1/reservations", json={"slot_id": slot["id"]}, headers=keyed(desk["other_resident"]))
    assert refused.status_code == 422 and refused.json()["code"] == "slot_cancelled"
    wrong = await client.post(f"/v1/resources/{made['id']}/slots/10000000000/cancel", headers=keyed(token))
    assert wrong.status_code == 404
