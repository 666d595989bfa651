"""Idempotency of refusals, on every POST that moves points.

The rule (README, "A tour of the API"): a refused request changed nothing and does not
take its Idempotency-Key, so a retry under the same key after the cause is fixed is
evaluated afresh and can succeed; a successful request's key replays its first result
forever (`Idempotent-Replayed: true`); the same key with another body is
`409 idempotency_key_reused`. Each test: refused, fix the cause, retry with the same key
(succeeds once), retry again (replayed)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from api.auth import create_token
from ledger import model
from tests.e2e.conftest import bearer
from tests.e2e.test_settlements_http import merchant_token, shop_with_item
from tests.redemption_support import fund_resident

REPLAYED = "Idempotent-Replayed"


async def earn(ledger, realm: str, account_id: int, points: int) -> None:
    funding = await ledger.system_account(realm, "funding", "civic")
    budget = await ledger.system_account(realm, "budget", "civic")
    await ledger.post(model.EntryDraft(realm, "fund", (model.Line(funding["id"], -points),
                                                       model.Line(budget["id"], points)), "test"))
    await ledger.post(model.EntryDraft(realm, "earn", (model.Line(budget["id"], -points),
                                                       model.Line(account_id, points)), "test"))


async def wallet(ledger, realm: str, resident_id: int) -> int:
    return (await ledger.owned_account(realm, "resident", "civic", resident_id=resident_id))["id"]


def refused_then(first, code: str, status: int = 422) -> None:
    assert first.status_code == status, first.text
    assert first.json()["code"] == code


def succeeded_once_then_replayed(retry, again, status: int = 201) -> None:
    assert retry.status_code == status, retry.text
    assert REPLAYED not in retry.headers
    assert again.status_code == status and again.headers[REPLAYED] == "true"
    assert again.json() == retry.json()


async def test_entries(client, tokens, ledger):
    await fund_resident(ledger, tokens.realm, 1, 10)
    await fund_resident(ledger, tokens.realm, 2, 10)
    poor, rich = await wallet(ledger, tokens.realm, 1), await wallet(ledger, tokens.realm, 2)
    headers = {**tokens.admin, "Idempotency-Key": "adj-refused-1"}
    body = {"realm": tokens.realm, "kind": "adjustment",
            "postings": [{"account_id": poor, "amount": -50}, {"account_id": rich, "amount": 50}]}
    refused_then(await client.post("/v1/entries", json=body, headers=headers), "insufficient_points")
    await earn(ledger, tokens.realm, poor, 40)
    retry = await client.post("/v1/entries", json=body, headers=headers)
    again = await client.post("/v1/entries", json=body, headers=headers)
    succeeded_once_then_replayed(retry, again)
    assert (await ledger.account(poor))["balance"] == 0
    other = {**body, "postings": [{"account_id": rich, "amount": -1}, {"account_id": poor, "amount": 1}]}
    reused = await client.post("/v1/entries", json=other, headers=headers)
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused"


async def test_reversals(client, tokens, ledger):
    await fund_resident(ledger, tokens.realm, 1, 100)
    await fund_resident(ledger, tokens.realm, 2, 10)
    spender, other = await wallet(ledger, tokens.realm, 1), await wallet(ledger, tokens.realm, 2)
    earned = (await client.post("/v1/entries", headers={**tokens.admin, "Idempotency-Key": "adj-in"}, json={
        "realm": tokens.realm, "kind": "adjustment",
        "postings": [{"account_id": other, "amount": -10}, {"account_id": spender, "amount": 10}]})).json()
    spent = await client.post("/v1/entries", headers={**tokens.admin, "Idempotency-Key": "adj-out"}, json={
        "realm": tokens.realm, "kind": "adjustment",
        "postings": [{"account_id": spender, "amount": -110}, {"account_id": other, "amount": 110}]})
    assert spent.status_code == 201, spent.text
    path, headers = f"/v1/entries/{earned['id']}/reversal", {**tokens.admin, "Idempotency-Key": "rev-refused-1"}
    refused_then(await client.post(path, headers=headers), "insufficient_points")
    await earn(ledger, tokens.realm, spender, 10)
    retry = await client.post(path, headers=headers)
    again = await client.post(path, headers=headers)
    succeeded_once_then_replayed(retry, again)
    assert retry.json()["reverses_entry_id"] == earned["id"]


async def test_vouchers(client, tokens, ledger):
    await fund_resident(ledger, tokens.realm, 1, 60)
    headers = {**tokens.resident, "Idempotency-Key": "voucher-refused-1"}
    body = {"asset": "civic", "amount": 100}
    refused_then(await client.post("/v1/vouchers", json=body, headers=headers), "insufficient_points")
    await earn(ledger, tokens.realm, await wallet(ledger, tokens.realm, 1), 40)
    retry = await client.post("/v1/vouchers", json=body, headers=headers)
    again = await client.post("/v1/vouchers", json=body, headers=headers)
    succeeded_once_then_replayed(retry, again)
    assert (await ledger.account(await wallet(ledger, tokens.realm, 1)))["balance"] == 0
    reused = await client.post("/v1/vouchers", json={**body, "amount": 1}, headers=headers)
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused"


async def suspended_shop_and_voucher(client, tokens, ledger, engine, **scope):
    await fund_resident(ledger, tokens.realm, 1, 100)
    merchant, _ = await shop_with_item(client, tokens)
    scanner = await merchant_token(engine, tokens.realm, merchant["id"])
    scope = {"merchant_id": merchant["id"]} if scope.get("this_merchant") else {}
    voucher = (await client.post("/v1/vouchers", json={"asset": "civic", "amount": 100, **scope},
                                 headers={**tokens.resident, "Idempotency-Key": "v-for-shop"})).json()
    status = f"/v1/merchants/{merchant['id']}/status"
    assert (await client.post(status, json={"status": "suspended"}, headers=tokens.admin)).status_code == 200
    return merchant, scanner, voucher, status


async def test_redemptions(client, tokens, ledger, engine):
    _, scanner, voucher, status = await suspended_shop_and_voucher(client, tokens, ledger, engine)
    headers = {**scanner, "Idempotency-Key": "redeem-refused-1"}
    body = {"code": voucher["code"], "amount": 60}
    first = await client.post("/v1/redemptions", json=body, headers=headers)
    refused_then(first, "merchant_not_active")
    assert (await client.post(status, json={"status": "active"}, headers=tokens.admin)).status_code == 200
    retry = await client.post("/v1/redemptions", json=body, headers=headers)
    again = await client.post("/v1/redemptions", json=body, headers=headers)
    succeeded_once_then_replayed(retry, again)
    assert retry.json()["amount"] == 60
    reused = await client.post("/v1/redemptions", json={**body, "amount": 50}, headers=headers)
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused"


async def test_batch_redemptions(client, tokens, ledger, engine):
    """Each item is its own request, keyed by its voucher's serial (offline: a voucher
    bound to this merchant)."""
    _, scanner, voucher, status = await suspended_shop_and_voucher(client, tokens, ledger, engine,
                                                                   this_merchant=True)
    headers = {**scanner, "Idempotency-Key": "batch-refused-1"}
    body = {"items": [{"code": voucher["code"]}]}
    [first] = (await client.post("/v1/redemptions/batch", json=body, headers=headers)).json()["items"]
    assert first["status"] == "refused" and first["code"] == "merchant_not_active", first
    assert (await client.post(status, json={"status": "active"}, headers=tokens.admin)).status_code == 200
    [retry] = (await client.post("/v1/redemptions/batch", json=body, headers=headers)).json()["items"]
    [again] = (await client.post("/v1/redemptions/batch", json=body, headers=headers)).json()["items"]
    assert retry["status"] == again["status"] == "captured" and retry["amount"] == 100
    assert (retry["replayed"], again["replayed"]) == (False, True)
    assert again["id"] == retry["id"]


async def test_attendance(client, tokens, ledger, engine):
    realm, admin = tokens.realm, tokens.admin
    town = (await client.post("/v1/towns", json={"realm": realm, "name": "岳麓街道"}, headers=admin)).json()
    station = (await client.post("/v1/stations", json={"realm": realm, "town_id": town["id"], "name": "莲花村",
                                                        "setting": "rural"}, headers=admin)).json()
    resident = (await client.post("/v1/residents", json={"realm": realm, "station_id": station["id"],
                                                          "code": f"R1{realm}"}, headers=admin)).json()
    starts = datetime.now(timezone.utc) - timedelta(hours=3)
    activity = (await client.post("/v1/activities", headers=admin, json={
        "realm": realm, "activity_type": "volunteering", "station_id": station["id"], "title": "清扫街道",
        "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat()})).json()
    path, headers = f"/v1/activities/{activity['id']}/attendance", {**admin, "Idempotency-Key": "att-refused-1"}
    body = {"records": [{"resident_id": resident["id"], "minutes": 60}]}
    first = await client.post(path, json=body, headers=headers)
    assert first.status_code == 200 and REPLAYED not in first.headers
    assert [r.get("error") for r in first.json()["results"]] == ["budget_exhausted"]
    funded = await client.post("/v1/budgets/funding", json={"realm": realm, "asset": "civic", "amount": 500},
                               headers={**admin, "Idempotency-Key": "fund-after-refusal"})
    assert funded.status_code == 201, funded.text
    retry = await client.post(path, json=body, headers=headers)
    again = await client.post(path, json=body, headers=headers)
    succeeded_once_then_replayed(retry, again, status=200)
    assert retry.json()["results"][0]["points"] > 0
    reused = await client.post(path, json={"records": [{"resident_id": resident["id"], "minutes": 30}]},
                               headers=headers)
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused"


async def test_rewards_redeem(client, tokens, ledger):
    await fund_resident(ledger, tokens.realm, 1, 10)
    _, item = await shop_with_item(client, tokens, price=30, stock=1)
    path, headers = f"/v1/rewards/{item['id']}/redeem", {**tokens.resident, "Idempotency-Key": "take-refused-1"}
    refused_then(await client.post(path, json={}, headers=headers), "insufficient_points")
    await earn(ledger, tokens.realm, await wallet(ledger, tokens.realm, 1), 20)
    retry = await client.post(path, json={}, headers=headers)
    again = await client.post(path, json={}, headers=headers)
    succeeded_once_then_replayed(retry, again)
    assert retry.json()["item"]["stock"] == 0  # stock taken once


async def test_settlements(client, tokens, ledger, engine):
    await fund_resident(ledger, tokens.realm, 1, 100)
    merchant, item = await shop_with_item(client, tokens)
    taken = await client.post(f"/v1/rewards/{item['id']}/redeem", json={},
                              headers={**tokens.resident, "Idempotency-Key": "take-for-settle"})
    scanner = bearer(await create_token(engine, "merchant", tokens.realm, merchant_id=merchant["id"]))
    redeemed = await client.post("/v1/redemptions", json={"code": taken.json()["voucher"]["code"]},
                                 headers={**scanner, "Idempotency-Key": "redeem-for-settle"})
    assert redeemed.status_code == 201, redeemed.text
    headers = {**tokens.admin, "Idempotency-Key": "settle-refused-1"}
    body = {"realm": tokens.realm, "merchant_id": merchant["id"], "to": datetime.now(timezone.utc).isoformat()}
    refused_then(await client.post("/v1/settlements", json=body, headers=headers), "settlement_rate_not_set")
    rate = await client.put(f"/v1/realms/{tokens.realm}/settlement-rate", json={"fen_per_point": 10},
                            headers=tokens.admin)
    assert rate.status_code == 200, rate.text
    retry = await client.post("/v1/settlements", json=body, headers=headers)
    again = await client.post("/v1/settlements", json=body, headers=headers)
    succeeded_once_then_replayed(retry, again)
    assert retry.json()["points"] == 30
