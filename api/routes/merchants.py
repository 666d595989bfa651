"""The merchant registry (issue 5 item 1): create, read, list, change status."""
from __future__ import annotations

from datetime import datetime

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.auth import roles
from api.errors import problems
from api.routes.common import PAGING, Caller, ItemsPage, Service, shaped
from ledger import errors
from merchants import errors as merchant_errors
from merchants.service import Merchants


class MerchantIn(msgspec.Struct, forbid_unknown_fields=True):
    realm: str
    kind: str
    name: str
    contact: str | None = None
    station_id: int | None = None


class StatusIn(msgspec.Struct, forbid_unknown_fields=True):
    status: str


class Merchant(msgspec.Struct):
    id: int
    realm: str
    station_id: int | None
    kind: str                  # general, agri_shop, ...
    name: str
    contact: str | None
    status: str                # active, suspended, closed
    created_at: datetime
    status_changed_at: datetime | None
    # on creation only: the merchant's account id per asset
    accounts: dict[str, int] | msgspec.UnsetType = msgspec.UNSET


MERCHANT_READ = (merchant_errors.MerchantNotFound, errors.Forbidden)


class MerchantController(Controller):
    path = "/v1/merchants"
    tags = ["merchants"]

    @post(status_code=201, guards=[roles("admin")],
          responses=problems(errors.InvalidRealm, errors.UnknownRealm, merchant_errors.InvalidMerchantKind,
                             merchant_errors.InvalidMerchant))
    async def create_merchant(self, merchants: Service[Merchants], principal: Caller,
                              data: JSONBody[MerchantIn]) -> Merchant:
        """A merchant with its accounts (civic; agri too for an agri shop)."""
        principal.require_realm(data.realm)
        return shaped(Merchant, await merchants.create(data.realm, data.kind, data.name, data.contact,
                                                       data.station_id))

    @get("/{merchant_id:int}", responses=problems(MERCHANT_READ))
    async def read_merchant(self, merchants: Service[Merchants], principal: Caller,
                            merchant_id: FromPath[int]) -> Merchant:
        merchant = await merchants.get(merchant_id)
        principal.require_realm(merchant["realm"])
        if principal.role == "merchant" and principal.merchant_id != merchant_id:
            raise errors.Forbidden("a merchant token reads only its own merchant")
        return shaped(Merchant, merchant)

    @get(responses=problems(errors.InvalidRealm, merchant_errors.InvalidMerchantKind,
                            merchant_errors.InvalidMerchantStatus, PAGING))
    async def list_merchants(self, merchants: Service[Merchants], principal: Caller, realm: FromQuery[str],
                             kind: FromQuery[str | None] = None, status: FromQuery[str | None] = None,
                             cursor: FromQuery[str | None] = None,
                             limit: FromQuery[int | None] = None) -> ItemsPage[Merchant]:
        """The realm's merchants, by id; `kind` and `status` filter."""
        principal.require_realm(realm)
        page = await merchants.page(realm, cursor, limit, kind, status)
        return ItemsPage([shaped(Merchant, row) for row in page.items], page.next_cursor)

    @post("/{merchant_id:int}/status", status_code=200, guards=[roles("admin")],
          responses=problems(merchant_errors.MerchantNotFound, merchant_errors.InvalidMerchantStatus,
                             merchant_errors.MerchantClosed))
    async def change_merchant_status(self, merchants: Service[Merchants], principal: Caller,
                                     merchant_id: FromPath[int], data: JSONBody[StatusIn]) -> Merchant:
        """Suspend, reactivate or close (closed stays closed)."""
        principal.require_realm((await merchants.get(merchant_id))["realm"])
        return shaped(Merchant, await merchants.set_status(merchant_id, data.status))


ROUTES = [MerchantController]
