"""Bad input is a 400 problem with a stable code, never a 500 (issue 11 item 5): ids
beyond 64 bits, NUL characters, deep JSON, numeric strings, an empty change, a
re-signed voucher code with another amount."""
from __future__ import annotations

from dataclasses import replace

import pytest

from redemption import codec
from tests.e2e.test_vouchers_http import issue, merchant_with_token
from tests.redemption_support import fund_resident

TOO_BIG = 2 ** 63

ID_PATHS = [
    "/v1/accounts/{}", "/v1/accounts/{}/postings", "/v1/accounts/{}/balance", "/v1/entries/{}",
    "/v1/vouchers/{}", "/v1/vouchers/{}/qr.png", "/v1/merchants/{}", "/v1/merchants/{}/overview",
    "/v1/merchants/{}/redemptions", "/v1/merchants/{}/catalogue", "/v1/catalogue/{}",
    "/v1/settlements/{}", "/v1/audit/entries/{}/inclusion", "/v1/residents/{}",
]


def assert_problem(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


@pytest.mark.parametrize("path", ID_PATHS)
async def test_a_path_id_beyond_64_bits_is_a_400(client, tokens, path):
    assert_problem(await client.get(path.format(TOO_BIG), headers=tokens.admin), 400, "number_out_of_range")
    assert_problem(await client.get(path.format(-TOO_BIG - 1), headers=tokens.admin), 400, "number_out_of_range")


@pytest.mark.parametrize("path, body", [
    ("/v1/entries/{}/reversal", None), ("/v1/vouchers/{}/cancel", None), ("/v1/catalogue/{}", {"active": False}),
    ("/v1/merchants/{}/status", {"status": "active"}),
    ("/v1/settlements/{}/payment", {"bank_reference": "B1", "paid_on": "2026-01-01"}),
])
async def test_a_posted_path_id_beyond_64_bits_is_a_400(client, tokens, path, body):
    response = await client.post(path.format(TOO_BIG), json=body, headers={**tokens.admin, "Idempotency-Key": "big"})
    assert_problem(response, 400, "number_out_of_range")


async def test_body_and_query_ids_beyond_64_bits_are_400s(client, tokens):
    realm = tokens.realm
    bodies = [
        ("/v1/entries", {"realm": realm, "postings": [{"account_id": TOO_BIG, "amount": 5},
                                                     {"account_id": 1, "amount": -5}]}),
        ("/v1/merchants", {"realm": realm, "kind": "general", "name": "店", "station_id": TOO_BIG}),
        ("/v1/settlements", {"realm": realm, "to": "2026-01-01", "merchant_id": TOO_BIG}),
        ("/v1/budgets/funding", {"realm": realm, "asset": "civic", "amount": TOO_BIG}),
    ]
    for path, body in bodies:
        response = await client.post(path, json=body, headers={**tokens.admin, "Idempotency-Key": "big-body"})
        assert_problem(response, 400, "number_out_of_range")
    for written in (str(TOO_BIG), "99999999999999999999", "-9223372036854775809"):
        listed = await client.get("/v1/vouchers", params={"resident_id": written}, headers=tokens.organizer)
        assert_problem(listed, 400, "number_out_of_range")


async def test_a_nul_character_in_any_text_is_refused_before_the_database(client, tokens, engine):
    realm = tokens.realm
    merchant, _ = await merchant_with_token(client, tokens, engine)
    nul = "甲\x00乙"
    posts = [
        ("/v1/towns", {"realm": realm, "name": nul}),
        ("/v1/stations", {"realm": realm, "town_id": 1, "name": nul, "setting": "urban"}),
        ("/v1/residents", {"realm": realm, "station_id": 1, "code": "R0001", "display_name": nul}),
        ("/v1/merchants", {"realm": realm, "kind": "general", "name": nul}),
        ("/v1/merchants", {"realm": realm, "kind": "general", "name": "店", "contact": nul}),
        ("/v1/entries", {"realm": realm, "postings": [], "memo": nul}),
        ("/v1/entries", {"realm": realm, "postings": [], "reference": nul}),
        (f"/v1/merchants/{merchant['id']}/catalogue", {"name": nul, "price": 5}),
        ("/v1/activity-types", {"realm": realm, "code": "x", "name": nul}),
        ("/v1/settlements/1/payment", {"bank_reference": nul, "paid_on": "2026-01-01"}),
        ("/v1/entries", {"realm": realm, "postings": [], nul: 1}),
    ]
    for path, body in posts:
        response = await client.post(path, json=body, headers={**tokens.admin, "Idempotency-Key": "nul"})
        assert_problem(response, 400, "invalid_text")
    assert_problem(await client.get("/v1/vouchers", params={"status": nul}, headers=tokens.admin), 400, "invalid_text")
    assert_problem(await client.get("/v1/realms/43%0004", headers=tokens.admin), 400, "invalid_text")


async def test_deeply_nested_json_is_a_400_even_without_a_token(client, tokens):
    deep = "[" * 1000 + "]" * 1000
    for headers in ({}, {**tokens.admin, "Idempotency-Key": "deep"}):
        response = await client.post("/v1/entries", content='{"realm": ' + deep + "}",
                                     headers={**headers, "content-type": "application/json"})
        assert_problem(response, 400, "json_too_deep")
    shallow_enough = await client.post("/v1/entries", content='{"realm": ' + "[" * 40 + "]" * 40 + "}",
                                       headers={**tokens.admin, "content-type": "application/json"})
    assert_problem(shallow_enough, 400, "json_too_deep")


async def test_numeric_strings_are_not_integers(client, tokens):
    cases = [
        ("/v1/entries", {"realm": tokens.realm, "postings": [{"account_id": "5", "amount": 5},
                                                            {"account_id": 6, "amount": -5}]}),
        ("/v1/budgets/funding", {"realm": tokens.realm, "asset": "civic", "amount": "5"}),
        ("/v1/budgets/funding", {"realm": tokens.realm, "asset": "civic", "amount": 5.0}),
        ("/v1/budgets/funding", {"realm": tokens.realm, "asset": "civic", "amount": True}),
    ]
    for path, body in cases:
        response = await client.post(path, json=body, headers={**tokens.admin, "Idempotency-Key": "strict"})
        assert_problem(response, 400, "invalid_request")


async def test_changing_a_catalogue_item_with_nothing_to_change_is_a_400(client, tokens, engine):
    merchant, merchant_headers = await merchant_with_token(client, tokens, engine)
    item = (await client.post(f"/v1/merchants/{merchant['id']}/catalogue", json={"name": "大米", "price": 30},
                              headers=merchant_headers)).json()
    assert_problem(await client.post(f"/v1/catalogue/{item['id']}", json={}, headers=merchant_headers),
                   400, "nothing_to_change")
    changed = await client.post(f"/v1/catalogue/{item['id']}", json={"active": False}, headers=merchant_headers)
    assert changed.status_code == 200 and changed.json()["active"] is False


@pytest.mark.parametrize("change", [+50, -50], ids=["more", "less"])
async def test_a_resigned_code_with_another_amount_is_refused(client, tokens, ledger, engine, change):
    """Signed with the service's own voucher key (as a leaked key or a bug would), but not
    what was issued under that serial: refused, nothing moves."""
    await fund_resident(ledger, tokens.realm, 1)
    _, merchant_headers = await merchant_with_token(client, tokens, engine)
    voucher = (await issue(client, tokens, f"resign-{change}")).json()
    token = codec.decode(voucher["code"])
    keys = client.app.state.services.keys
    forged = replace(token, amount=token.amount + change)
    _, signature = keys.sign("voucher", forged.body())
    forged_code = codec.encode(replace(forged, signature=signature))
    response = await client.post("/v1/redemptions", json={"code": forged_code},
                                 headers={**merchant_headers, "Idempotency-Key": f"forged-{change}"})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "voucher_code_mismatch"
    still = await client.get(f"/v1/vouchers/{voucher['id']}", headers=tokens.resident)
    assert still.json()["status"] == "issued"
