"""Rewards catalogue (issue 5 item 2): items per merchant, what a resident can get, and
taking an item (a voucher scoped to its merchant, stock reserved in the same transaction)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.auth import roles
from api.catalogue_redemption import redeem_item
from api.errors import problems
from api.routes.common import (PAGING, Caller, IdempotencyKey, ItemsPage, Service, acting_for, parse_timestamp,
                               replayable, required_idempotency_key, services, shaped)
from api.routes.redemption import VoucherOut, voucher_for
from earning.service import Earning
from ledger import errors
from merchants import errors as merchant_errors
from merchants.service import Catalogue, Merchants
from redemption import errors as redemption_errors
from redemption.service import Vouchers


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


class CatalogueItem(msgspec.Struct):
    id: int
    realm: str
    merchant_id: int
    name: str
    description: str | None
    price: int                        # points
    asset: str
    stock: int | None                 # None: unlimited
    unlimited: bool
    active: bool
    active_from: datetime | None
    active_until: datetime | None
    created_at: datetime
    # in the rewards list: who offers it
    merchant_name: str | msgspec.UnsetType = msgspec.UNSET
    merchant_kind: str | msgspec.UnsetType = msgspec.UNSET
    station_id: int | None | msgspec.UnsetType = msgspec.UNSET


class Taken(msgspec.Struct):
    voucher: VoucherOut               # scoped to the item's merchant, for the item's price
    item: CatalogueItem               # its stock after taking
    reserved: bool                    # a unit of stock is held for the voucher


def catalogue_item(row: dict[str, Any]) -> CatalogueItem:
    return shaped(CatalogueItem, {**row, "unlimited": row["stock"] is None})


async def merchant_for_change(merchants: Merchants, principal: Caller, merchant_id: int) -> dict[str, Any]:
    """The merchant, if the caller is its realm's admin or the merchant itself."""
    merchant = await merchants.get(merchant_id)
    principal.require_realm(merchant["realm"])
    if principal.role == "merchant" and principal.merchant_id != merchant_id:
        raise merchant_errors.NotYourMerchant("a merchant token manages only its own merchant")
    return merchant


def _moment(value: str | None) -> datetime | None:
    return parse_timestamp(value) if value is not None else None


ITEM_CHECKS = (merchant_errors.InvalidCatalogueItem, merchant_errors.InvalidPrice, merchant_errors.AgriNeedsAgriShop,
               errors.InvalidTimestamp)
CHANGED_BY = (merchant_errors.MerchantNotFound, merchant_errors.NotYourMerchant)


class CatalogueController(Controller):
    tags = ["rewards"]

    @post("/v1/merchants/{merchant_id:int}/catalogue", status_code=201, guards=[roles("admin", "merchant")],
          responses=problems(CHANGED_BY, ITEM_CHECKS, merchant_errors.MerchantClosed))
    async def create_item(self, merchants: Service[Merchants], catalogue: Service[Catalogue], principal: Caller,
                          merchant_id: FromPath[int], data: JSONBody[ItemIn]) -> CatalogueItem:
        """An item the merchant offers (its admin, or the merchant itself)."""
        await merchant_for_change(merchants, principal, merchant_id)
        item = await catalogue.create_item(merchant_id, data.name, data.price, data.asset, data.stock,
                                           data.description, _moment(data.active_from), _moment(data.active_until))
        return catalogue_item(item)

    @get("/v1/merchants/{merchant_id:int}/catalogue", responses=problems(merchant_errors.MerchantNotFound, PAGING))
    async def list_items(self, merchants: Service[Merchants], catalogue: Service[Catalogue], principal: Caller,
                         merchant_id: FromPath[int], cursor: FromQuery[str | None] = None,
                         limit: FromQuery[int | None] = None) -> ItemsPage[CatalogueItem]:
        """The merchant's items, offered or not."""
        merchant = await merchants.get(merchant_id)
        principal.require_realm(merchant["realm"])
        page = await catalogue.page(merchant["realm"], merchant_id, cursor, limit)
        return ItemsPage([catalogue_item(row) for row in page.items], page.next_cursor)

    @get("/v1/catalogue/{item_id:int}", responses=problems(merchant_errors.CatalogueItemNotFound))
    async def read_item(self, catalogue: Service[Catalogue], principal: Caller, item_id: FromPath[int]) -> CatalogueItem:
        item = await catalogue.item(item_id)
        principal.require_realm(item["realm"])
        return catalogue_item(item)

    @post("/v1/catalogue/{item_id:int}", status_code=200, guards=[roles("admin", "merchant")],
          responses=problems(merchant_errors.CatalogueItemNotFound, CHANGED_BY, merchant_errors.NothingToChange,
                             merchant_errors.InvalidCatalogueItem))
    async def change_item(self, merchants: Service[Merchants], catalogue: Service[Catalogue], principal: Caller,
                          item_id: FromPath[int], data: JSONBody[ItemChangeIn]) -> CatalogueItem:
        """Restock, or take off (`active: false`) and offer again."""
        item = await catalogue.item(item_id)
        await merchant_for_change(merchants, principal, item["merchant_id"])
        return catalogue_item(await catalogue.change_item(item_id, data.restock, data.active))


class RewardsController(Controller):
    path = "/v1/rewards"
    tags = ["rewards"]

    @get(responses=problems(errors.InvalidRealm, merchant_errors.InvalidMerchantKind, PAGING))
    async def list_rewards(self, catalogue: Service[Catalogue], principal: Caller, realm: FromQuery[str],
                           kind: FromQuery[str | None] = None, station: FromQuery[int | None] = None,
                           cursor: FromQuery[str | None] = None,
                           limit: FromQuery[int | None] = None) -> ItemsPage[CatalogueItem]:
        """Offered items with stock left, the caller's station first (the `station` parameter,
        else the token's station), then the others."""
        principal.require_realm(realm)
        near = station if station is not None else principal.station_id
        page = await catalogue.rewards(realm, kind, near, cursor, limit)
        return ItemsPage([catalogue_item(row) for row in page.items], page.next_cursor)

    @post("/{item_id:int}/redeem", status_code=201, guards=[roles("resident", "organizer")],
          responses=problems(merchant_errors.CatalogueItemNotFound, merchant_errors.OutOfStock,
                             merchant_errors.ItemNotAvailable, redemption_errors.MerchantNotActive,
                             errors.InsufficientPoints, redemption_errors.VoucherLimitReached,
                             redemption_errors.AgriScopeRequired, errors.InvalidInput, errors.UnknownRealm))
    async def take_item(self, request: Request, earning: Service[Earning], vouchers: Service[Vouchers],
                        principal: Caller, item_id: FromPath[int], data: JSONBody[TakeIn],
                        idempotency_key: IdempotencyKey = None) -> Response[Taken]:
        """A voucher for the item, its stock reserved (a resident for itself, an organizer
        for a resident it names); a replay answers the first voucher."""
        realm, resident_id = await acting_for(earning, principal, data.resident_id)
        key = required_idempotency_key(idempotency_key)
        taken = await redeem_item(services(request), item_id, realm, resident_id, key, principal.actor)
        body = Taken(voucher=voucher_for(vouchers, principal, taken.voucher), item=catalogue_item(taken.item),
                     reserved=taken.reservation is not None)
        return replayable(body, taken.replayed)


ROUTES = [CatalogueController, RewardsController]
