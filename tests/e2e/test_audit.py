"""Audit over HTTP: auditors read, only admins seal, and an auditor writes nothing."""
import re

from litestar.handlers import HTTPRouteHandler

from ledger import merkle, model


async def fund(ledger, realm: str, amount: int = 100) -> int:
    funding = await ledger.system_account(realm, "funding", "civic")
    budget = await ledger.system_account(realm, "budget", "civic")
    entry = await ledger.post(model.EntryDraft(realm, "fund", (model.Line(funding["id"], -amount),
                                                               model.Line(budget["id"], amount)), "test"))
    return entry["id"]


async def test_reconciliation_for_auditor_and_admin_only(client, tokens, ledger):
    await fund(ledger, tokens.realm)
    for headers in (tokens.auditor, tokens.admin):
        response = await client.get("/v1/audit/reconciliation", headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["ok"] is True and body["realm"] == tokens.realm
        assert "trial_balance" in {check["name"] for check in body["checks"]}
    for headers in (tokens.organizer, tokens.merchant, tokens.resident):
        assert (await client.get("/v1/audit/reconciliation", headers=headers)).status_code == 403
    other = await client.get(f"/v1/audit/reconciliation?realm={tokens.realm}", headers=tokens.other_realm_admin)
    assert other.status_code == 403


async def test_seal_then_prove_over_http(client, tokens, ledger):
    entry_id = await fund(ledger, tokens.realm)
    assert (await client.post(f"/v1/audit/checkpoints?realm={tokens.realm}", headers=tokens.auditor)).status_code == 403
    sealed = await client.post(f"/v1/audit/checkpoints?realm={tokens.realm}", headers=tokens.admin)
    assert sealed.status_code == 201, sealed.text
    [head] = sealed.json()["sealed"]
    await fund(ledger, tokens.realm, 5)
    await client.post(f"/v1/audit/checkpoints?realm={tokens.realm}", headers=tokens.admin)

    latest = (await client.get(f"/v1/audit/checkpoints/{tokens.realm}/latest", headers=tokens.auditor)).json()
    assert latest["seq"] == 2 and latest["previous_head_hash"] == head["head_hash"]
    listed = (await client.get(f"/v1/audit/checkpoints?realm={tokens.realm}&limit=1", headers=tokens.auditor)).json()
    assert [h["seq"] for h in listed["items"]] == [2] and listed["next_cursor"]
    proof = (await client.get(f"/v1/audit/entries/{entry_id}/inclusion", headers=tokens.auditor)).json()
    assert merkle.verify_inclusion(bytes.fromhex(proof["leaf_hash"]), proof["leaf_index"], latest["tree_size"],
                                   [bytes.fromhex(h) for h in proof["proof"]], bytes.fromhex(latest["root_hash"]))
    consistency = (await client.get(f"/v1/audit/checkpoints/{tokens.realm}/consistency?first=1&second=2",
                                    headers=tokens.auditor)).json()
    assert merkle.verify_consistency(1, 2, bytes.fromhex(head["root_hash"]), bytes.fromhex(latest["root_hash"]),
                                     [bytes.fromhex(h) for h in consistency["proof"]])
    missing = await client.get(f"/v1/audit/checkpoints/{tokens.realm}/99", headers=tokens.auditor)
    assert missing.status_code == 404 and missing.json()["code"] == "checkpoint_not_found"
    keys = (await client.get("/v1/audit/keys", headers=tokens.auditor)).json()["keys"]
    assert latest["key_id"] in {key["kid"] for key in keys}


def write_routes(app) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            for method in handler.http_methods - {"GET", "HEAD", "OPTIONS"}:
                found.append((method, route.path))
    return found


async def test_every_write_route_refuses_an_auditor(client, tokens):
    routes = write_routes(client.app)
    assert ("POST", "/v1/entries") in routes and ("POST", "/v1/audit/checkpoints") in routes
    for method, path in routes:
        concrete = re.sub(r"\{[^}:]+:int\}", "1", path)
        concrete = re.sub(r"\{[^}:]+:str\}", tokens.realm, concrete)
        response = await client.request(method, concrete, headers={**tokens.auditor, "Idempotency-Key": "a-1"},
                                        json={})
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["code"] == "forbidden"


async def test_the_serve_sealer_seals_periodically_and_stops(engine, keys, ledger, realm):
    """The periodic job `serve` starts in its lifespan (api.app)."""
    import asyncio

    from api.background import PeriodicJobs
    from ledger.checkpoints import Checkpoints

    entry_id = await fund(ledger, realm)
    checkpoints = Checkpoints(engine, keys)
    jobs = PeriodicJobs()
    jobs.start("checkpoint sealing", 0.05, checkpoints.seal_periodically)
    proof = None
    for _ in range(200):
        await asyncio.sleep(0.05)
        try:
            proof = await checkpoints.inclusion_proof(entry_id)
            break
        except Exception:
            continue
    await asyncio.wait_for(jobs.stop(), 30)
    assert proof is not None and proof["entry_id"] == entry_id and proof["realm"] == realm


async def test_an_unknown_realm_is_an_error_never_a_pass(client, tokens):
    """`?realm=999999` used to run every check over nothing and answer ok."""
    for path, method in (("/v1/audit/reconciliation?realm=999999", "GET"),
                         ("/v1/audit/checkpoints?realm=999999", "POST")):
        response = await client.request(method, path, headers=tokens.global_admin)
        assert response.status_code == 404, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "realm_not_found"
    for headers in (tokens.auditor, tokens.admin):  # a realm's token: not its realm, so 403 first
        assert (await client.get("/v1/audit/reconciliation?realm=999999", headers=headers)).status_code == 403


async def test_the_key_registry_is_published(client, tokens, keys):
    """`/v1/audit/keys` and the well-known file publish the ledger keys from the registry."""
    await client.post(f"/v1/audit/checkpoints?realm={tokens.realm}", headers=tokens.admin)
    listed = await client.get("/v1/audit/keys", headers=tokens.auditor)
    assert listed.status_code == 200
    assert (await client.get("/v1/audit/keys", headers=tokens.admin)).json() == listed.json()
    current = keys.active("ledger")
    [mine] = [k for k in listed.json()["keys"] if k["kid"] == current.registry_id]
    assert mine["retired_at"] is None and mine["kind"] == "signer" and mine["legacy_kid"] == current.kid
    published = (await client.get("/.well-known/pointsbank-keys.json")).json()["keys"]
    assert [k for k in published if k["purpose"] == "ledger"] == listed.json()["keys"]
    for headers in (tokens.organizer, tokens.merchant, tokens.resident):
        assert (await client.get("/v1/audit/keys", headers=headers)).status_code == 403
