"""Realms, accounts and entries."""
from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.auth import Principal
from api.routes.common import (Caller, IdempotencyKey, entry_response, page_body, parse_timestamp,
                               require_resident_scope, required_idempotency_key, services)
from ledger import errors, model


class RealmIn(msgspec.Struct, forbid_unknown_fields=True):
    code: str
    name: str
    timezone: str = model.DEFAULT_TIMEZONE


class AccountIn(msgspec.Struct, forbid_unknown_fields=True):
    realm: str
    kind: str
    asset: str
    floor: int | None = None
    label: str | None = None
    counterpart_realm: str | None = None


class PostingIn(msgspec.Struct, forbid_unknown_fields=True):
    account_id: int
    amount: int


class EntryIn(msgspec.Struct, forbid_unknown_fields=True):
    realm: str
    postings: list[PostingIn]
    kind: str = "adjustment"
    memo: str | None = None
    reference: str | None = None


class ReversalIn(msgspec.Struct, forbid_unknown_fields=True):
    memo: str | None = None


def account_body(account: dict[str, Any]) -> dict[str, Any]:
    return {k: account[k] for k in ("id", "realm", "kind", "asset", "floor", "balance",
                                    "resident_id", "merchant_id", "counterpart_realm",
                                    "label", "created_at")}


@post("/v1/realms", status_code=201)
async def create_realm(request: Request, principal: Caller, data: JSONBody[RealmIn]) -> dict[str, Any]:
    principal.require_role("admin")
    if principal.realm is not None:
        raise errors.Forbidden("only an all-realms admin opens realms")
    return await services(request).ledger.open_realm(data.code, data.name, data.timezone)


@get("/v1/realms/{code:str}")
async def read_realm(request: Request, principal: Caller, code: FromPath[str]) -> dict[str, Any]:
    principal.require_realm(code)
    return await services(request).ledger.realm(code)


@post("/v1/accounts", status_code=201)
async def create_account(request: Request, principal: Caller, data: JSONBody[AccountIn]) -> dict[str, Any]:
    principal.require(data.realm, "admin")
    if data.kind in ("resident", "merchant"):
        raise errors.InvalidInput(f"{data.kind} accounts are opened with their {data.kind}")
    account = await services(request).ledger.create_account(
        data.realm, data.kind, data.asset, data.floor, data.label,
        counterpart_realm=data.counterpart_realm)
    return account_body(account)


async def readable_account(request: Request, principal: Caller, account_id: FromPath[int]) -> dict[str, Any]:
    """A resident's account for whoever may see that resident's data; a merchant's for the
    merchant itself; any of its realm for an admin or an auditor."""
    account = await services(request).ledger.account(account_id)
    principal.require_realm(account["realm"])
    if account["kind"] == "resident":
        await require_resident_scope(request, principal, account["realm"], account["resident_id"])
    elif not (principal.role in ("admin", "auditor")
              or (principal.role == "merchant" and account["merchant_id"] == principal.merchant_id)):
        raise errors.Forbidden("this token cannot read that account")
    return account


@get("/v1/accounts/{account_id:int}")
async def read_account(request: Request, principal: Caller, account_id: FromPath[int]) -> dict[str, Any]:
    return account_body(await readable_account(request, principal, account_id))


@get("/v1/accounts/{account_id:int}/postings")
async def account_postings(request: Request, principal: Caller, account_id: FromPath[int],
                           cursor: FromQuery[str | None] = None,
                           limit: FromQuery[int | None] = None) -> dict[str, Any]:
    account = await readable_account(request, principal, account_id)
    page = await services(request).ledger.history(account, cursor, limit)
    return page_body(page)


@get("/v1/accounts/{account_id:int}/balance")
async def account_balance(request: Request, principal: Caller, account_id: FromPath[int],
                          at: FromQuery[str | None] = None) -> dict[str, Any]:
    account = await readable_account(request, principal, account_id)
    if at is None:
        return {"account_id": account_id, "balance": account["balance"], "at": None}
    moment = parse_timestamp(at)
    balance = await services(request).ledger.balance_at(account, moment)
    return {"account_id": account_id, "balance": balance, "at": moment.isoformat()}


@post("/v1/entries")
async def create_entry(request: Request, principal: Caller, data: JSONBody[EntryIn],
                       idempotency_key: IdempotencyKey = None) -> Response[dict[str, Any]]:
    principal.require(data.realm, "admin")
    key = required_idempotency_key(idempotency_key)
    if data.kind not in model.MANUAL_KINDS:
        raise errors.EntryKindNotAllowed(
            f"by hand an admin posts only {' or '.join(model.MANUAL_KINDS)} entries")
    draft = model.EntryDraft(
        realm=data.realm, kind=data.kind,
        lines=tuple(model.Line(p.account_id, p.amount) for p in data.postings),
        created_by=principal.actor, idempotency_key=key, memo=data.memo,
        reference=data.reference)
    return entry_response(await services(request).ledger.post(draft))


@post("/v1/entries/{entry_id:int}/reversal")
async def reverse_entry(request: Request, principal: Caller, entry_id: FromPath[int],
                        idempotency_key: IdempotencyKey = None,
                        data: JSONBody[ReversalIn | None] = None) -> Response[dict[str, Any]]:
    principal.require_role("admin")
    key = required_idempotency_key(idempotency_key)
    ledger = services(request).ledger
    original = await ledger.entry(entry_id)
    principal.require_realm(original["realm"])
    result = await ledger.reverse(original, principal.actor, key, data.memo if data else None)
    return entry_response(result)


@get("/v1/entries/{entry_id:int}")
async def read_entry(request: Request, principal: Caller, entry_id: FromPath[int]) -> dict[str, Any]:
    entry = await services(request).ledger.entry(entry_id)
    principal.require_realm(entry["realm"])
    if principal.role not in ("admin", "auditor"):
        raise errors.Forbidden("entries are read by admins and auditors; others read their accounts")
    return entry


ROUTES = [create_realm, read_realm, create_account, read_account, account_postings,
          account_balance, create_entry, reverse_entry, read_entry]
