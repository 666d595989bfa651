"""Vouchers over HTTP: issue, render, scan with a real QR decoder, redeem; bad input."""
from __future__ import annotations

import io

import zxingcpp
from PIL import Image

from api.auth import create_token
from tests.e2e.conftest import bearer
from tests.redemption_support import fund_resident, registered_resident


def qr_version(png: bytes) -> int:
    """The QR version, from the image: (modules per side - 17) / 4."""
    from redemption.render import QR_BORDER_MODULES, QR_BOX_PX

    modules = Image.open(io.BytesIO(png)).size[0] // QR_BOX_PX - 2 * QR_BORDER_MODULES
    return (modules - 17) // 4


async def merchant_with_token(client, tokens, engine, kind="general", name="供销超市"):
    made = await client.post("/v1/merchants", headers=tokens.admin,
                             json={"realm": tokens.realm, "kind": kind, "name": name})
    merchant = made.json()
    token = await create_token(engine, "merchant", tokens.realm, merchant_id=merchant["id"])
    return merchant, bearer(token)


async def issue(client, tokens, key, **body):
    return await client.post("/v1/vouchers", headers={**tokens.resident, "Idempotency-Key": key},
                             json={"asset": "civic", "amount": 100, **body})


async def test_scan_the_png_with_a_real_decoder_and_redeem_what_it_read(client, tokens, ledger, engine):
    await fund_resident(ledger, tokens.realm, 1)
    merchant, merchant_headers = await merchant_with_token(client, tokens, engine)
    issued = await issue(client, tokens, "v1")
    assert issued.status_code == 201, issued.text
    voucher = issued.json()
    png = await client.get(voucher["qr_png_url"], headers=tokens.resident)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    scans = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert len(scans) == 1 and scans[0].text == voucher["code"]
    assert scans[0].format == zxingcpp.BarcodeFormat.QRCode and scans[0].ec_level == "M"
    assert qr_version(png.content) <= 7
    redeemed = await client.post("/v1/redemptions", json={"code": scans[0].text},
                                 headers={**merchant_headers, "Idempotency-Key": "scan-1"})
    assert redeemed.status_code == 201, redeemed.text
    assert redeemed.json()["voucher_id"] == voucher["id"] and redeemed.json()["amount"] == 100
    again = await client.post("/v1/redemptions", json={"code": scans[0].text},
                              headers={**merchant_headers, "Idempotency-Key": "scan-1"})
    assert again.json() == redeemed.json() and again.headers["Idempotent-Replayed"] == "true"
    replay = await client.post("/v1/redemptions", json={"code": scans[0].text},
                               headers={**merchant_headers, "Idempotency-Key": "scan-2"})
    assert replay.status_code == 409 and replay.json()["code"] == "voucher_already_redeemed"
    read = await client.get(f"/v1/vouchers/{voucher['id']}", headers=tokens.resident)
    assert read.json()["status"] == "redeemed"
    listed = await client.get("/v1/vouchers", params={"status": "redeemed"}, headers=tokens.resident)
    assert [v["id"] for v in listed.json()["items"]] == [voucher["id"]]


async def test_svg_pdf_and_short_code(client, tokens, ledger, engine):
    await fund_resident(ledger, tokens.realm, 1)
    _, merchant_headers = await merchant_with_token(client, tokens, engine)
    voucher = (await issue(client, tokens, "v2", amount=40)).json()
    svg = await client.get(voucher["qr_svg_url"], headers=tokens.resident)
    assert svg.status_code == 200 and b"<svg" in svg.content
    pdf = await client.get(voucher["pdf_url"], headers=tokens.resident)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    typo = voucher["short_code"][:-1] + ("0" if voucher["short_code"][-1] != "0" else "1")
    refused = await client.post("/v1/redemptions", json={"short_code": typo},
                                headers={**merchant_headers, "Idempotency-Key": "typed-0"})
    assert refused.status_code == 422 and refused.json()["code"] == "short_code_invalid"
    typed = await client.post("/v1/redemptions", json={"short_code": voucher["short_code"].lower(), "amount": 15},
                              headers={**merchant_headers, "Idempotency-Key": "typed-1"})
    assert typed.status_code == 201 and typed.json()["amount"] == 15
    account = await ledger.owned_account(tokens.realm, "resident", "civic", resident_id=1)
    assert account["balance"] == 1000 - 15


async def test_bad_input_is_refused_with_its_own_code(client, tokens, ledger, engine):
    await fund_resident(ledger, tokens.realm, 1)
    merchant, merchant_headers = await merchant_with_token(client, tokens, engine)
    other, other_headers = await merchant_with_token(client, tokens, engine, name="别家")
    voucher = (await issue(client, tokens, "v3", merchant_id=merchant["id"])).json()
    code = voucher["code"]
    tampered = code[:40] + ("A" if code[40] != "A" else "B") + code[41:]
    cases = [
        (merchant_headers, {"code": tampered}, "voucher_signature_invalid"),
        (merchant_headers, {"code": code[:100]}, "voucher_code_malformed"),
        (merchant_headers, {"code": "PB2:" + code[4:]}, "voucher_prefix_invalid"),
        (other_headers, {"code": code}, "voucher_wrong_merchant"),
        (merchant_headers, {"code": code, "amount": 101}, "voucher_amount_exceeded"),
        (merchant_headers, {"code": code, "amount": 0}, "voucher_amount_invalid"),
        (merchant_headers, {"code": code, "amount": -1}, "voucher_amount_invalid"),
    ]
    for headers, body, expected in cases:
        response = await client.post("/v1/redemptions", json=body, headers={**headers, "Idempotency-Key": expected})
        assert response.json().get("code") == expected, (expected, response.text)
        assert response.status_code in (409, 422)
    no_key = await client.post("/v1/redemptions", json={"code": code}, headers=merchant_headers)
    assert no_key.json()["code"] == "idempotency_key_required"
    assert (await client.post("/v1/redemptions", json={"code": code},
                              headers={**tokens.resident, "Idempotency-Key": "x"})).status_code == 403
    await client.post(f"/v1/merchants/{merchant['id']}/status", json={"status": "suspended"}, headers=tokens.admin)
    suspended = await client.post("/v1/redemptions", json={"code": code},
                                  headers={**merchant_headers, "Idempotency-Key": "s"})
    assert suspended.json()["code"] == "merchant_not_active"
    agri = await issue(client, tokens, "v4", asset="agri", amount=5)
    assert agri.json()["code"] == "agri_needs_agri_shop"
    hold = await ledger.system_account(tokens.realm, "hold", "civic")
    assert hold["balance"] == 100  # only the one voucher's points are held, nothing moved


async def test_residents_see_only_their_vouchers_and_organizers_issue_for_residents(client, tokens, ledger, engine):
    two = await registered_resident(engine, ledger, tokens.realm)
    if two == 1:   # a fresh database: that is the resident token's holder; take another
        two = await registered_resident(engine, ledger, tokens.realm)
    for_two = await client.post("/v1/vouchers", headers={**tokens.organizer, "Idempotency-Key": "o1"},
                                json={"asset": "civic", "amount": 10, "resident_id": two})
    assert for_two.status_code == 201 and for_two.json()["resident_id"] == two
    hidden = await client.get(f"/v1/vouchers/{for_two.json()['id']}", headers=tokens.resident)
    assert hidden.status_code == 403
    cancelled = await client.post(f"/v1/vouchers/{for_two.json()['id']}/cancel",
                                  headers={**tokens.organizer, "Idempotency-Key": "c1"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert (await ledger.owned_account(tokens.realm, "resident", "civic", resident_id=two))["balance"] == 1000


async def test_offline_batch_over_http(client, tokens, ledger, engine):
    await fund_resident(ledger, tokens.realm, 1)
    merchant, merchant_headers = await merchant_with_token(client, tokens, engine)
    code = (await issue(client, tokens, "v5", merchant_id=merchant["id"], amount=20)).json()["code"]
    body = {"items": [{"code": code}, {"code": code}, {"code": "garbage"}]}
    first = await client.post("/v1/redemptions/batch", json=body,
                              headers={**merchant_headers, "Idempotency-Key": "b1"})
    items = first.json()["items"]
    assert [i["status"] for i in items] == ["captured", "captured", "refused"]
    assert items[0]["id"] == items[1]["id"] and items[2]["code"] == "voucher_prefix_invalid"
    second = await client.post("/v1/redemptions/batch", json={"items": [{"code": code}]},
                               headers={**merchant_headers, "Idempotency-Key": "b2"})
    assert second.json()["items"][0]["id"] == items[0]["id"]
    account = await ledger.owned_account(tokens.realm, "merchant", "civic", merchant_id=merchant["id"])
    assert account["balance"] == 20


async def test_published_keys_and_policy(client, tokens, ledger):
    await fund_resident(ledger, tokens.realm, 1)
    await issue(client, tokens, "v6")
    published = (await client.get("/.well-known/pointsbank-keys.json")).json()
    assert any(k["purpose"] == "voucher" and k["retired_at"] is None for k in published["keys"])
    changed = await client.put(f"/v1/realms/{tokens.realm}/voucher-policy", headers=tokens.admin,
                               json={"lifetime_days": 7, "outstanding_max": 1})
    assert changed.status_code == 200
    refused = await issue(client, tokens, "v7")
    assert refused.status_code == 422 and refused.json()["code"] == "voucher_limit_reached"
    bad = await client.put(f"/v1/realms/{tokens.realm}/voucher-policy", headers=tokens.admin,
                           json={"lifetime_days": 0, "outstanding_max": 1})
    assert bad.json()["code"] == "invalid_voucher_policy"
