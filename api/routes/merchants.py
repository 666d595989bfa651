"""The merchant registry (issue 5 item 1): create, read, list, change status."""
from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.routes.common import Caller, page_body, services
from ledger import errors


class MerchantIn(msgspec.Struct, forbid_unknown_fields=True):
    realm: str
    kind: str
    name: str
    contact: str | None = None
    station_id: int | None = None


class StatusIn(msgspec.Struct, forbid_unknown_fields=True):
    status: str


def merchant_body(merchant: dict[str, Any]) -> dict[str, Any]:
    return {k: merchant[k] for k in ("id", "realm", "station_id", "kind", "name", "contact",
                                     "status", "created_at", "status_changed_at")
            } | ({"accounts": merchant["accounts"]} if "accounts" in merchant else {})


@post("/v1/merchants", status_code=201)
async def create_merchant(request: Request, principal: Caller,
                          data: JSONBody[MerchantIn]) -> dict[str, Any]:
    principal.require(data.realm, "admin")
    merchant = await services(request).merchants.create(
        data.realm, data.kind, data.name, data.contact, data.station_id)
    return merchant_body(merchant)


@get("/v1/merchants/{merchant_id:int}")
async def read_merchant(request: Request, principal: Caller,
                        merchant_id: FromPath[int]) -> dict[str, Any]:
    merchant = await services(request).merchants.get(merchant_id)
    principal.require_realm(merchant["realm"])
    if principal.role == "merchant" and principal.merchant_id != merchant_id:
        raise errors.Forbidden("a merchant token reads only its own merchant")
    return merchant_body(merchant)


@get("/v1/merchants")
async def list_merchants(request: Request, principal: Caller, realm: FromQuery[str],
                         kind: FromQuery[str | None] = None, status: FromQuery[str | None] = None,
                         cursor: FromQuery[str | None] = None,
                         limit: FromQuery[int | None] = None) -> dict[str, Any]:
    principal.require_realm(realm)
    page = await services(request).merchants.page(realm, cursor, limit, kind, status)
    return page_body(page, merchant_body)


@post("/v1/merchants/{merchant_id:int}/status", status_code=200)
async def change_merchant_status(request: Request, principal: Caller, merchant_id: FromPath[int],
                                 data: JSONBody[StatusIn]) -> dict[str, Any]:
    principal.require_role("admin")
    registry = services(request).merchants
    principal.require_realm((await registry.get(merchant_id))["realm"])
    return merchant_body(await registry.set_status(merchant_id, data.status))


ROUTES = [create_merchant, read_merchant, list_merchants, change_merchant_status]
