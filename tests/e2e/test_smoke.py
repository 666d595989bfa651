from litestar.testing import AsyncTestClient

from api.app import create_app
from api.settings import Settings


async def test_health_and_schema(client):
    assert (await client.get("/healthz")).json() == {"status": "ok", "database": "ok"}
    schema = await client.get("/schema/openapi.json")
    assert schema.status_code == 200
    assert "/v1/entries" in schema.json()["paths"]


async def test_health_answers_503_when_the_database_cannot_be_reached(tmp_path):
    # a port nothing listens on: the service is up, its database is not
    settings = Settings(data_dir=tmp_path, seal_interval_s=0)
    app = create_app(settings, database_url="postgresql://postgres@127.0.0.1:9/none?connect_timeout=1")
    async with AsyncTestClient(app=app) as client:
        health = await client.get("/healthz")
    assert health.status_code == 503
    assert health.json() == {"status": "unavailable", "database": "unreachable"}


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
