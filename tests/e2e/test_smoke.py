async def test_health_and_schema(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    schema = await client.get("/schema/openapi.json")
    assert schema.status_code == 200
    assert "/v1/entries" in schema.json()["paths"]


async def test_fund_then_read_balance(client, tokens, ledger):
    funding = await ledger.system_account(tokens.realm, "funding", "civic")
    budget = await ledger.system_account(tokens.realm, "budget", "civic")
    body = {"realm": tokens.realm, "kind": "fund",
            "postings": [{"account_id": funding["id"], "amount": -500},
                         {"account_id": budget["id"], "amount": 500}]}
    headers = {**tokens.admin, "Idempotency-Key": "fund-1"}
    first = await client.post("/v1/entries", json=body, headers=headers)
    assert first.status_code == 201, first.text
    again = await client.post("/v1/entries", json=body, headers=headers)
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    account = await client.get(f"/v1/accounts/{budget['id']}", headers=tokens.auditor)
    assert account.json()["balance"] == 500
