"""Catalogue, rewards, settlement, statements and the merchant's view over HTTP: roles,
scopes, bad input codes, and a statement checked with the published key."""
from __future__ import annotations

import base64
import csv
import io
import uuid
from datetime import datetime, timezone

from api.auth import create_token
from ledger.keys import public_key_from_json
from merchants import model
from tests.e2e.conftest import bearer
from tests.redemption_support import fund_resident, registered_resident

RATE = 7


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def shop_with_item(client, tokens, kind="general", price=30, stock=5, asset="civic", station_id=None):
    made = await client.post("/v1/merchants", headers=tokens.admin,
                             json={"realm": tokens.realm, "kind": kind, "name": f"店{uuid.uuid4().hex[:4]}",
                                   "station_id": station_id})
    assert made.status_code == 201, made.text
    merchant = made.json()
    item = await client.post(f"/v1/merchants/{merchant['id']}/catalogue", headers=tokens.admin,
                             json={"name": "大米", "price": price, "stock": stock, "asset": asset})
    assert item.status_code == 201, item.text
    return merchant, item.json()


async def merchant_token(engine, realm, merchant_id) -> dict[str, str]:
    return bearer(await create_token(engine, "merchant", realm, merchant_id=merchant_id))


async def take_and_redeem(client, tokens, engine, merchant, item):
    taken = await client.post(f"/v1/rewards/{item['id']}/redeem", headers={**tokens.resident, **key()}, json={})
    assert taken.status_code == 201, taken.text
    scanner = await merchant_token(engine, tokens.realm, merchant["id"])
    redeemed = await client.post("/v1/redemptions", headers={**scanner, **key()},
                                 json={"code": taken.json()["voucher"]["code"]})
    assert redeemed.status_code == 201, redeemed.text
    return scanner


async def settle(client, tokens, merchant_id, idempotency=None, to=None):
    await client.put(f"/v1/realms/{tokens.realm}/settlement-rate", headers=tokens.admin, json={"fen_per_point": RATE})
    return await client.post("/v1/settlements", headers={**tokens.admin, **(idempotency or key())},
                             json={"realm": tokens.realm, "merchant_id": merchant_id,
                                   "to": to or datetime.now(timezone.utc).isoformat()})


async def test_take_an_item_then_settle_and_check_the_statement_with_the_published_key(client, tokens, engine, ledger):
    await fund_resident(ledger, tokens.realm, 1, 200)
    merchant, item = await shop_with_item(client, tokens)
    scanner = await take_and_redeem(client, tokens, engine, merchant, item)
    idempotency, cutoff = key(), datetime.now(timezone.utc).isoformat()
    settled = await settle(client, tokens, merchant["id"], idempotency, cutoff)
    assert settled.status_code == 201, settled.text
    body = settled.json()
    assert body["points"] == 30 and body["amount_fen"] == 30 * RATE and body["status"] == "open"
    replay = await settle(client, tokens, merchant["id"], idempotency, cutoff)
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json()["id"] == body["id"]
    reused = await settle(client, tokens, merchant["id"], idempotency)
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused"
    assert (await client.get(f"/v1/settlements/{body['id']}", headers=scanner)).json()["signature_valid"]
    signed = (await client.get(body["links"]["json"], headers=scanner)).json()
    keys = (await client.get("/.well-known/pointsbank-keys.json")).json()["keys"]
    published = {k["kid"]: public_key_from_json(k) for k in keys}
    key_used = published[signed["key_id"]]
    assert key_used.purpose == "statement"
    signature = base64.urlsafe_b64decode(signed["signature"] + "=" * (-len(signed["signature"]) % 4))
    digest = model.statement_digest(signed["statement"])
    assert digest.hex() == signed["sha256"] and key_used.verify(digest, signature)
    signed["statement"]["lines"][0]["points"] += 1
    assert not key_used.verify(model.statement_digest(signed["statement"]), signature)


async def test_statement_csv_opens_in_excel_and_pdf_renders(client, tokens, engine, ledger):
    await fund_resident(ledger, tokens.realm, 1, 200)
    merchant, item = await shop_with_item(client, tokens)
    await take_and_redeem(client, tokens, engine, merchant, item)
    body = (await settle(client, tokens, merchant["id"])).json()
    csv_response = await client.get(body["links"]["csv"], headers=tokens.auditor)
    assert csv_response.status_code == 200 and csv_response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(csv_response.content.decode("utf-8-sig"))))
    assert rows[2][2] == merchant["name"] and any(row[:1] == ["合计积分 points"] and row[1] == "30" for row in rows)
    pdf = await client.get(body["links"]["pdf"], headers=tokens.admin)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


async def test_a_merchant_sees_only_its_own_and_only_admins_settle(client, tokens, engine, ledger):
    await fund_resident(ledger, tokens.realm, 1, 200)
    merchant, item = await shop_with_item(client, tokens)
    other, _ = await shop_with_item(client, tokens)
    scanner = await take_and_redeem(client, tokens, engine, merchant, item)
    stranger = await merchant_token(engine, tokens.realm, other["id"])
    for headers in (tokens.organizer, tokens.auditor, scanner, tokens.other_realm_admin):
        refused = await client.post("/v1/settlements", headers={**headers, **key()},
                                    json={"realm": tokens.realm, "to": "2020-01-01"})
        assert refused.status_code == 403, headers
    body = (await settle(client, tokens, merchant["id"])).json()
    for url in (f"/v1/settlements/{body['id']}", body["links"]["json"], body["links"]["csv"],
                f"/v1/merchants/{merchant['id']}/overview", f"/v1/merchants/{merchant['id']}/redemptions"):
        refused = await client.get(url, headers=stranger)
        assert refused.status_code == 403 and refused.json()["code"] == "merchant_scope_mismatch", url
        assert (await client.get(url, headers=scanner)).status_code == 200, url
        assert (await client.get(url, headers=tokens.resident)).status_code == 403, url
    own = (await client.get("/v1/settlements", params={"realm": tokens.realm}, headers=stranger)).json()
    assert own["items"] == []
    paying = await client.post(f"/v1/settlements/{body['id']}/payment", headers=scanner,
                               json={"bank_reference": "X", "paid_on": "2020-01-01"})
    assert paying.status_code == 403


async def test_overview_shows_today_period_balance_and_statements(client, tokens, engine, ledger):
    await fund_resident(ledger, tokens.realm, 1, 500)
    merchant, item = await shop_with_item(client, tokens)
    scanner = await take_and_redeem(client, tokens, engine, merchant, item)
    body = (await settle(client, tokens, merchant["id"])).json()
    await take_and_redeem(client, tokens, engine, merchant, item)
    view = (await client.get(f"/v1/merchants/{merchant['id']}/overview", headers=scanner)).json()
    assert view["today"]["redemptions"] == 2 and view["today"]["points"] == 60
    assert view["period"]["redemptions"] == 1 and view["unsettled_points"] == 30
    assert view["balances"] == {"civic": 30} and [s["id"] for s in view["statements"]] == [body["id"]]
    lines = (await client.get(f"/v1/merchants/{merchant['id']}/redemptions", params={"since": "today", "limit": 1},
                              headers=scanner)).json()
    assert len(lines["items"]) == 1 and lines["next_cursor"]
    paid = await client.post(f"/v1/settlements/{body['id']}/payment", headers=tokens.admin,
                             json={"bank_reference": "ICBC-7788", "paid_on": datetime.now(timezone.utc).date().isoformat()})
    assert paid.status_code == 200 and paid.json()["status"] == "paid"
    twice = await client.post(f"/v1/settlements/{body['id']}/payment", headers=tokens.admin,
                              json={"bank_reference": "OTHER", "paid_on": "2020-01-01"})
    assert twice.status_code == 409 and twice.json()["code"] == "settlement_already_paid"


async def test_bad_input_is_refused_with_a_clear_code(client, tokens, engine, ledger):
    await fund_resident(ledger, tokens.realm, 1, 200)
    merchant, item = await shop_with_item(client, tokens)
    for price in (0, -3):
        bad = await client.post(f"/v1/merchants/{merchant['id']}/catalogue", headers=tokens.admin,
                                json={"name": "x", "price": price})
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_price"
    agri = await client.post(f"/v1/merchants/{merchant['id']}/catalogue", headers=tokens.admin,
                             json={"name": "菜", "price": 5, "asset": "agri"})
    assert agri.status_code == 422 and agri.json()["code"] == "agri_needs_agri_shop"
    unknown = await client.post("/v1/settlements", headers={**tokens.admin, **key()},
                                json={"realm": tokens.realm, "merchant_id": 999999999, "to": "2020-01-01"})
    assert unknown.status_code == 404 and unknown.json()["code"] == "merchant_not_found"
    no_rate = await client.post("/v1/settlements", headers={**tokens.admin, **key()},
                                json={"realm": tokens.realm, "merchant_id": merchant["id"],
                                      "to": datetime.now(timezone.utc).isoformat()})
    assert no_rate.status_code == 422 and no_rate.json()["code"] == "settlement_rate_not_set"
    await settle(client, tokens, merchant["id"])
    future = await client.post("/v1/settlements", headers={**tokens.admin, **key()},
                               json={"realm": tokens.realm, "merchant_id": merchant["id"], "to": "2999-01-01"})
    assert future.status_code == 422 and future.json()["code"] == "settlement_period_future"
    overlap = await client.post("/v1/settlements", headers={**tokens.admin, **key()},
                                json={"realm": tokens.realm, "merchant_id": merchant["id"], "to": "2020-01-01"})
    assert overlap.status_code == 409 and overlap.json()["code"] == "settlement_period_overlaps"
    await client.post(f"/v1/merchants/{merchant['id']}/status", headers=tokens.admin, json={"status": "closed"})
    closed = await client.post(f"/v1/rewards/{item['id']}/redeem", headers={**tokens.resident, **key()}, json={})
    assert closed.status_code == 422 and closed.json()["code"] == "merchant_not_active"
    no_key = await client.post(f"/v1/rewards/{item['id']}/redeem", headers=tokens.resident, json={})
    assert no_key.status_code == 422 and no_key.json()["code"] == "idempotency_key_required"
    wallet = await ledger.owned_account(tokens.realm, "resident", "civic", resident_id=1)
    assert wallet["balance"] == 200


async def test_rewards_nearest_station_first_and_agri_report(client, tokens, engine, ledger):
    await fund_resident(ledger, tokens.realm, 1, 200, asset="agri")
    far, far_item = await shop_with_item(client, tokens, station_id=11)
    near, near_item = await shop_with_item(client, tokens, kind="agri_shop", asset="agri", station_id=12)
    listed = (await client.get("/v1/rewards", params={"realm": tokens.realm, "station": 12},
                               headers=tokens.resident)).json()
    assert [i["id"] for i in listed["items"]] == [near_item["id"], far_item["id"]]
    assert listed["items"][0]["merchant_kind"] == "agri_shop"
    other = await client.get("/v1/rewards", params={"realm": tokens.realm}, headers=tokens.other_realm_admin)
    assert other.status_code == 403
    await take_and_redeem(client, tokens, engine, near, near_item)
    report = (await client.get("/v1/reports/agri-spending", params={"realm": tokens.realm},
                               headers=tokens.auditor)).json()
    assert [(r["asset"], r["points"], r["redemptions"]) for r in report["items"]] == [("agri", 30, 1)]
    refused = await client.get("/v1/reports/agri-spending", params={"realm": tokens.realm}, headers=tokens.resident)
    assert refused.status_code == 403


async def test_an_organizer_takes_an_item_for_a_resident_and_cancelling_returns_the_stock(client, tokens, ledger, engine):
    resident = await registered_resident(engine, ledger, tokens.realm, 100)
    merchant, item = await shop_with_item(client, tokens, stock=1)
    for_resident = {**tokens.organizer, **key()}
    taken = await client.post(f"/v1/rewards/{item['id']}/redeem", headers=for_resident, json={"resident_id": resident})
    assert taken.status_code == 201, taken.text
    voucher = taken.json()["voucher"]
    assert voucher["resident_id"] == resident and voucher["merchant_id"] == merchant["id"] and voucher["amount"] == 30
    replay = await client.post(f"/v1/rewards/{item['id']}/redeem", headers=for_resident, json={"resident_id": resident})
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json()["voucher"]["id"] == voucher["id"]
    gone = await client.post(f"/v1/rewards/{item['id']}/redeem", headers={**tokens.organizer, **key()},
                             json={"resident_id": resident})
    assert gone.status_code == 422 and gone.json()["code"] == "out_of_stock"
    listed = (await client.get("/v1/rewards", params={"realm": tokens.realm}, headers=tokens.resident)).json()
    assert item["id"] not in [i["id"] for i in listed["items"]]
    cancelled = await client.post(f"/v1/vouchers/{voucher['id']}/cancel", headers={**tokens.organizer, **key()})
    assert cancelled.status_code == 200
    assert (await client.get(f"/v1/catalogue/{item['id']}", headers=tokens.resident)).json()["stock"] == 1
    not_for_others = await client.post(f"/v1/rewards/{item['id']}/redeem", headers={**tokens.resident, **key()},
                                       json={"resident_id": resident})
    assert not_for_others.status_code == 403
    restocked = await client.post(f"/v1/catalogue/{item['id']}", headers=tokens.admin, json={"restock": 4})
    assert restocked.status_code == 200 and restocked.json()["stock"] == 5
    by_organizer = await client.post(f"/v1/catalogue/{item['id']}", headers=tokens.organizer, json={"restock": 4})
    assert by_organizer.status_code == 403
