"""Rewards catalogue (issue 5 item 2): items per merchant, what a resident can get, and
taking an item (a voucher scoped to its merchant, stock reserved in the same transaction)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.catalogue_redemption import redeem_item
from api.routes.common import (REPLAYED_HEADER, Caller, IdempotencyKey, page_body, parse_timestamp,
                               required_idempotency_key, resident_acted_for, services)
from api.routes.redemption import voucher_view
from ledger import errors
from merchants import errors as merchant_errors


class ItemIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    price: int
    asset: str = "civic"
    stock: int | None = None          # None: unlimited
    description: str | None = None
    active_from: str | None = None
    active_until: str | None = None


class ItemChangeIn(msgspec.Struct, forbid_unknown_fields=True):
    restock: int | None = None
    active: bool | None = None


class TakeIn(msgspec.Struct, forbid_unknown_fields=True):
    resident_id: int | None = None    # an organizer takes an item for a resident of its realm


def item_body(item: dict[str, Any]) -> dict[str, Any]:
    body = {k: item[k] for k in ("id", "realm", "merchant_id", "name", "description", "price", "asset",
                                 "stock", "active", "active_from", "active_until", "created_at")}
    body["unlimited"] = item["stock"] is None
    for extra in ("merchant_name", "merchant_kind", "station_id"):
        if extra in item:
            body[extra] = item[extra]
    return body


async def merchant_for_change(request: Request, principal: Caller, merchant_id: int) -> dict[str, Any]:
    """The merchant, if the caller is its realm's admin or the merchant itself."""
    merchant = await services(request).merchants.get(merchant_id)
    principal.require_realm(merchant["realm"])
    principal.require_role("admin", "merchant")
    if principal.role == "merchant" and principal.merchant_id != merchant_id:
        raise merchant_errors.NotYourMerchant("a merchant token manages only its own merchant")
    return merchant


def _moment(value: str | None) -> datetime | None:
    return parse_timestamp(value) if value is not None else None


@post("/v1/merchants/{merchant_id:int}/catalogue", status_code=201)
async def create_item(request: Request, principal: Caller, merchant_id: FromPath[int],
                      data: JSONBody[ItemIn]) -> dict[str, Any]:
    await merchant_for_change(request, principal, merchant_id)
    item = await services(request).catalogue.create_item(
        merchant_id, data.name, data.price, data.asset, data.stock, data.description,
        _moment(data.active_from), _moment(data.active_until))
    return item_body(item)


@get("/v1/merchants/{merchant_id:int}/catalogue")
async def list_items(request: Request, principal: Caller, merchant_id: FromPath[int],
                     cursor: FromQuery[str | None] = None, limit: FromQuery[int | None] = None) -> dict[str, Any]:
    merchant = await services(request).merchants.get(merchant_id)
    principal.require_realm(merchant["realm"])
    page = await services(request).catalogue.page(merchant["realm"], merchant_id, cursor, limit)
    return page_body(page, item_body)


@get("/v1/catalogue/{item_id:int}")
async def read_item(request: Request, principal: Caller, item_id: FromPath[int]) -> dict[str, Any]:
    item = await services(request).catalogue.item(item_id)
    principal.require_realm(item["realm"])
    return item_body(item)


@post("/v1/catalogue/{item_id:int}", status_code=200)
async def change_item(request: Request, principal: Caller, item_id: FromPath[int],
                      data: JSONBody[ItemChangeIn]) -> dict[str, Any]:
    item = await services(request).catalogue.item(item_id)
    await merchant_for_change(request, principal, item["merchant_id"])
    return item_body(await services(request).catalogue.change_item(item_id, data.restock, data.active))


@get("/v1/rewards")
async def list_rewards(request: Request, principal: Caller, realm: FromQuery[str], kind: FromQuery[str | None] = None,
                       station: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
                       limit: FromQuery[int | None] = None) -> dict[str, Any]:
    """Offered items with stock left, the caller's station first (the `station` parameter,
    else the token's station), then the others."""
    principal.require_realm(realm)
    near = station if station is not None else principal.station_id
    page = await services(request).catalogue.rewards(realm, kind, near, cursor, limit)
    return page_body(page, item_body)


@post("/v1/rewards/{item_id:int}/redeem")
async def take_item(request: Request, principal: Caller, item_id: FromPath[int], data: JSONBody[TakeIn],
                    idempotency_key: IdempotencyKey = None) -> Response[dict[str, Any]]:
    realm, resident_id = await resident_acted_for(request, principal, data.resident_id)
    key = required_idempotency_key(idempotency_key)
    taken = await redeem_item(services(request), item_id, realm, resident_id, key, principal.actor)
    body = {"voucher": voucher_view(request, principal, taken["voucher"]), "item": item_body(taken["item"]),
            "reserved": taken["reservation"] is not None}
    return Response(body, status_code=201, headers={REPLAYED_HEADER: "true"} if taken["replayed"] else {})


ROUTES = [create_item, list_items, read_item, change_item, list_rewards, take_item]
