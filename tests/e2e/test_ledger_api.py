"""The ledger over HTTP: who may do what, and what bad input gets back."""
from __future__ import annotations

import itertools

import pytest

from tests.integration.helpers import earn, funded_budget

_keys = itertools.count()


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"api-{next(_keys)}"}


@pytest.fixture
async def book(ledger, tokens):
    """A funded budget and a wallet for resident 1 (the resident token's) and 2."""
    realm = tokens.realm
    budget = await funded_budget(ledger, realm, 1000)
    mine = await ledger.create_account(realm, "resident", "civic", resident_id=1)
    theirs = await ledger.create_account(realm, "resident", "civic", resident_id=2)
    entry = await ledger.post(earn(realm, budget, mine["id"], 100))
    return {"realm": realm, "budget": budget, "mine": mine["id"], "theirs": theirs["id"],
            "entry": entry["id"]}


def adjustment(book, amount: int = 10, **overrides):
    body = {"realm": book["realm"], "postings": [{"account_id": book["mine"], "amount": -amount},
                                                 {"account_id": book["theirs"], "amount": amount}]}
    body.update(overrides)
    return body


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code and body["status"] == status
    return body


# roles -------------------------------------------------------------------------------------

async def test_admin_posts_and_reverses_an_adjustment(client, tokens, book):
    posted = await client.post("/v1/entries", json=adjustment(book, 30), headers={**tokens.admin, **key()})
    assert posted.status_code == 201, posted.text
    entry = posted.json()
    assert {p["account_id"]: p["balance_after"] for p in entry["postings"]} == {book["mine"]: 70, book["theirs"]: 30}
    reversal = await client.post(f"/v1/entries/{entry['id']}/reversal", headers={**tokens.admin, **key()})
    assert reversal.status_code == 201, reversal.text
    assert reversal.json()["reverses_entry_id"] == entry["id"]
    again = await client.post(f"/v1/entries/{entry['id']}/reversal", headers={**tokens.admin, **key()})
    assert_problem(again, 409, "entry_already_reversed")
    mine = await client.get(f"/v1/accounts/{book['mine']}", headers=tokens.resident)
    assert mine.json()["balance"] == 100


@pytest.mark.parametrize("role", ["organizer", "auditor", "merchant", "resident", "other_realm_admin"])
async def test_only_a_realm_admin_posts_entries(client, tokens, book, role):
    response = await client.post("/v1/entries", json=adjustment(book), headers={**getattr(tokens, role), **key()})
    assert_problem(response, 403, "forbidden")


@pytest.mark.parametrize("role", ["organizer", "auditor", "merchant", "resident", "other_realm_admin"])
async def test_only_a_realm_admin_reverses(client, tokens, book, role):
    response = await client.post(f"/v1/entries/{book['entry']}/reversal",
                                 headers={**getattr(tokens, role), **key()})
    assert_problem(response, 403, "forbidden")


@pytest.mark.parametrize("role", ["organizer", "auditor", "merchant", "resident"])
async def test_only_admins_open_accounts(client, tokens, role):
    body = {"realm": tokens.realm, "kind": "clearing", "asset": "civic", "counterpart_realm": tokens.realm}
    assert_problem(await client.post("/v1/accounts", json=body, headers=getattr(tokens, role)), 403, "forbidden")


async def test_only_an_all_realms_admin_opens_realms(client, tokens):
    from tests.conftest import new_realm_code

    body = {"code": new_realm_code(), "name": "新区"}
    assert_problem(await client.post("/v1/realms", json=body, headers=tokens.admin), 403, "forbidden")
    opened = await client.post("/v1/realms", json=body, headers=tokens.global_admin)
    assert opened.status_code == 201 and opened.json()["code"] == body["code"]
    assert_problem(await client.post("/v1/realms", json=body, headers=tokens.global_admin), 409, "realm_exists")


@pytest.mark.parametrize("role, allowed", [
    ("admin", True), ("auditor", True), ("organizer", True), ("resident", True),
    ("merchant", False), ("other_realm_admin", False)])
async def test_who_reads_a_residents_account(client, tokens, book, role, allowed):
    response = await client.get(f"/v1/accounts/{book['mine']}", headers=getattr(tokens, role))
    if allowed:
        assert response.status_code == 200 and response.json()["balance"] == 100
    else:
        assert_problem(response, 403, "forbidden")


async def test_a_resident_reads_only_their_own_accounts(client, tokens, book):
    for path in (f"/v1/accounts/{book['theirs']}", f"/v1/accounts/{book['theirs']}/postings",
                 f"/v1/accounts/{book['theirs']}/balance", f"/v1/accounts/{book['budget']}"):
        assert_problem(await client.get(path, headers=tokens.resident), 403, "forbidden")


async def test_a_merchant_reads_only_its_own_account(client, tokens, ledger, book):
    own = await ledger.create_account(book["realm"], "merchant", "civic", merchant_id=1)  # the token's
    other = await ledger.create_account(book["realm"], "merchant", "civic", merchant_id=2)
    assert (await client.get(f"/v1/accounts/{own['id']}", headers=tokens.merchant)).status_code == 200
    for account_id in (other["id"], book["budget"]):
        for path in (f"/v1/accounts/{account_id}", f"/v1/accounts/{account_id}/postings"):
            assert_problem(await client.get(path, headers=tokens.merchant), 403, "forbidden")


async def test_entries_are_read_by_admins_and_auditors(client, tokens, book):
    for role in ("admin", "auditor"):
        response = await client.get(f"/v1/entries/{book['entry']}", headers=getattr(tokens, role))
        assert response.status_code == 200 and response.json()["kind"] == "earn"
    for role in ("resident", "merchant", "organizer", "other_realm_admin"):
        assert_problem(await client.get(f"/v1/entries/{book['entry']}", headers=getattr(tokens, role)),
                       403, "forbidden")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer pb_nope"}, {"Authorization": "Basic abc"}])
async def test_unknown_or_missing_tokens_are_401(client, book, headers):
    assert_problem(await client.get(f"/v1/accounts/{book['mine']}", headers=headers), 401, "unauthorized")


# history -----------------------------------------------------------------------------------

async def test_history_pages_newest_first_with_running_balances(client, tokens, book):
    for amount in (1, 2, 3, 4, 5):
        response = await client.post("/v1/entries", json=adjustment(book, amount), headers={**tokens.admin, **key()})
        assert response.status_code == 201
    seen, cursor = [], None
    while True:
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(f"/v1/accounts/{book['mine']}/postings", params=query, headers=tokens.resident)).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [p["amount"] for p in seen] == [-5, -4, -3, -2, -1, 100]
    assert [p["balance_after"] for p in seen] == [85, 90, 94, 97, 99, 100]


async def test_balance_at_a_past_instant(client, tokens, book, ledger):
    first = await client.get(f"/v1/entries/{book['entry']}", headers=tokens.admin)
    earned_at = first.json()["created_at"]
    await client.post("/v1/entries", json=adjustment(book, 40), headers={**tokens.admin, **key()})
    now = await client.get(f"/v1/accounts/{book['mine']}/balance", headers=tokens.resident)
    then = await client.get(f"/v1/accounts/{book['mine']}/balance", params={"at": earned_at}, headers=tokens.resident)
    before = await client.get(f"/v1/accounts/{book['mine']}/balance",
                              params={"at": "2000-01-01T00:00:00+08:00"}, headers=tokens.resident)
    assert (now.json()["balance"], then.json()["balance"], before.json()["balance"]) == (60, 100, 0)


# bad input -----------------------------------------------------------------------------------

async def test_malformed_json(client, tokens):
    response = await client.post("/v1/entries", content=b'{"realm": ', headers={
        **tokens.admin, **key(), "Content-Type": "application/json"})
    assert_problem(response, 400, "malformed_json")


@pytest.mark.parametrize("mutate, status, code", [
    (lambda b: b.pop("postings"), 400, "invalid_request"),
    (lambda b: b.update(postings=[{"account_id": "x", "amount": 1}]), 400, "invalid_request"),
    (lambda b: b.update(surprise=True), 400, "invalid_request"),
    (lambda b: b["postings"][0].update(amount=-(10**13)), 422, "amount_out_of_range"),
    (lambda b: b["postings"][1].update(amount=10**30), 400, "number_out_of_range"),  # beyond 64 bits
    (lambda b: [p.update(amount=0) for p in b["postings"]], 422, "amount_zero"),
    (lambda b: b["postings"][1].update(amount=11), 422, "entry_unbalanced"),
    (lambda b: b["postings"][1].update(account_id=987654321), 422, "unknown_account"),
    (lambda b: b.update(kind="earn"), 422, "entry_kind_not_allowed"),
    (lambda b: b.update(postings=b["postings"][:1]), 422, "entry_too_few_postings"),
])
async def test_bad_entries_get_specific_problems(client, tokens, book, mutate, status, code):
    body = adjustment(book)
    mutate(body)
    assert_problem(await client.post("/v1/entries", json=body, headers={**tokens.admin, **key()}), status, code)
    mine = await client.get(f"/v1/accounts/{book['mine']}", headers=tokens.admin)
    assert mine.json()["balance"] == 100  # nothing half-applied


async def test_overdraw_is_refused(client, tokens, book):
    response = await client.post("/v1/entries", json=adjustment(book, 101), headers={**tokens.admin, **key()})
    body = assert_problem(response, 422, "insufficient_points")
    assert body["account_id"] == book["mine"]


async def test_idempotency_key_rules(client, tokens, book):
    missing = await client.post("/v1/entries", json=adjustment(book), headers=tokens.admin)
    assert_problem(missing, 422, "idempotency_key_required")
    headers = {**tokens.admin, "Idempotency-Key": "same-key"}
    first = await client.post("/v1/entries", json=adjustment(book, 5), headers=headers)
    assert first.status_code == 201
    other = await client.post("/v1/entries", json=adjustment(book, 6), headers=headers)
    assert_problem(other, 409, "idempotency_key_reused")
    bad = await client.post("/v1/entries", json=adjustment(book), headers={**tokens.admin, "Idempotency-Key": "x" * 300})
    assert_problem(bad, 422, "invalid_idempotency_key")


@pytest.mark.parametrize("path, code, status", [
    ("/v1/accounts/{mine}/postings?cursor=garbage", "invalid_cursor", 422),
    ("/v1/accounts/{mine}/postings?limit=100000", "invalid_input", 422),
    ("/v1/accounts/{mine}/balance?at=yesterday", "invalid_timestamp", 422),
    ("/v1/accounts/{mine}/balance?at=2026-11-28T09:00:00", "invalid_timestamp", 422),
    ("/v1/accounts/987654321", "account_not_found", 404),
    ("/v1/entries/987654321", "entry_not_found", 404),
    ("/v1/accounts/abc", "not_found", 404),
])
async def test_bad_reads(client, tokens, book, path, code, status):
    response = await client.get(path.format(mine=book["mine"]), headers=tokens.admin)
    assert_problem(response, status, code)


@pytest.mark.parametrize("body, code", [
    ({"kind": "budget", "asset": "civic"}, "account_exists"),
    ({"kind": "vault", "asset": "civic"}, "invalid_input"),
    ({"kind": "clearing", "asset": "gold", "counterpart_realm": "430104"}, "invalid_input"),
    ({"kind": "clearing", "asset": "civic", "floor": 10, "counterpart_realm": "430104"}, "invalid_floor"),
    ({"kind": "resident", "asset": "civic"}, "invalid_input"),
])
async def test_bad_accounts(client, tokens, body, code):
    response = await client.post("/v1/accounts", json={"realm": tokens.realm, **body}, headers=tokens.admin)
    assert response.status_code in (409, 422), response.text
    assert response.json()["code"] == code
