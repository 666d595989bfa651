"""Audit: reconciliation, checkpoints and proofs. Auditors and admins read; only an admin
seals on demand (`serve` also seals every `Settings.seal_interval_s`)."""
from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery

from api.routes.common import Caller, services
from ledger import audit, errors, model
from ledger.checkpoints import head_signature_ok, registry_verifier

READER_ROLES = ("auditor", "admin")


def audited_realm(principal: Caller, realm: str | None) -> str | None:
    """The realm a caller audits: its own (a realm token), or any or all (a global admin)."""
    principal.require_role(*READER_ROLES)
    if realm is not None:
        model.check_realm_code(realm)
        principal.require_realm(realm)
        return realm
    return principal.realm


def one_realm(principal: Caller, realm: str | None) -> str:
    chosen = audited_realm(principal, realm)
    if chosen is None:
        raise errors.InvalidInput("name a realm: ?realm=430104")
    return chosen


@get("/v1/audit/reconciliation")
async def reconciliation(request: Request, principal: Caller,
                         realm: FromQuery[str | None] = None) -> dict[str, Any]:
    svc = services(request)
    report = await audit.run_audit(svc.engine, audited_realm(principal, realm))
    return report.as_json()


@post("/v1/audit/checkpoints", status_code=201)
async def seal_checkpoints(request: Request, principal: Caller,
                           realm: FromQuery[str | None] = None) -> dict[str, Any]:
    principal.require_role("admin")
    checkpoints = services(request).checkpoints
    if realm is None and principal.realm is None:
        return {"sealed": await checkpoints.seal_all()}
    chosen = realm or principal.realm
    principal.require_realm(chosen)
    head = await checkpoints.seal(chosen)
    return {"sealed": [head] if head else []}


@get("/v1/audit/checkpoints")
async def list_checkpoints(request: Request, principal: Caller, realm: FromQuery[str | None] = None,
                           cursor: FromQuery[str | None] = None,
                           limit: FromQuery[int | None] = None) -> dict[str, Any]:
    heads, next_cursor = await services(request).checkpoints.heads(
        one_realm(principal, realm), cursor, limit)
    return {"items": heads, "next_cursor": next_cursor}


@get("/v1/audit/checkpoints/{realm:str}/latest")
async def latest_checkpoint(request: Request, principal: Caller, realm: FromPath[str]) -> dict[str, Any]:
    """The latest head, with `signature_valid`: checked here against the key registry (a
    careful auditor also checks it offline with the published key)."""
    svc = services(request)
    realm = one_realm(principal, realm)
    head = await svc.checkpoints.head(realm)
    verify = registry_verifier(realm, await svc.checkpoints.registry.keys(), unknown_signer_passes=False)
    return {**head, "signature_valid": head_signature_ok(head, verify)}


@get("/v1/audit/checkpoints/{realm:str}/{seq:int}")
async def read_checkpoint(request: Request, principal: Caller, realm: FromPath[str],
                          seq: FromPath[int]) -> dict[str, Any]:
    return await services(request).checkpoints.head(one_realm(principal, realm), seq)


@get("/v1/audit/checkpoints/{realm:str}/consistency")
async def consistency_proof(request: Request, principal: Caller, realm: FromPath[str],
                            first: FromQuery[int], second: FromQuery[int]) -> dict[str, Any]:
    return await services(request).checkpoints.consistency_proof(
        one_realm(principal, realm), first, second)


@get("/v1/audit/entries/{entry_id:int}/inclusion")
async def inclusion_proof(request: Request, principal: Caller, entry_id: FromPath[int],
                          checkpoint: FromQuery[int | None] = None) -> dict[str, Any]:
    principal.require_role(*READER_ROLES)
    ledger = services(request).ledger
    entry = await ledger.entry(entry_id)
    principal.require_realm(entry["realm"])
    return await services(request).checkpoints.inclusion_proof(entry_id, checkpoint)


@get("/v1/audit/keys")
async def ledger_keys(request: Request, principal: Caller) -> dict[str, Any]:
    """The public keys that sign checkpoints, from the key registry: retired and
    acknowledged (stray) keys included."""
    principal.require_role(*READER_ROLES)
    return {"keys": [key.as_json() for key in await services(request).checkpoints.registry.keys()]}


ROUTES = [reconciliation, seal_checkpoints, list_checkpoints, latest_checkpoint, read_checkpoint,
          consistency_proof, inclusion_proof, ledger_keys]
