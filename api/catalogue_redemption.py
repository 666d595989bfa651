"""A resident takes a catalogue item: one database transaction in which the merchants
service reserves one of the item's stock and the redemption service issues the voucher
for it (scoped to the item's merchant, for the item's price), then the reservation names
the voucher. Stock and voucher commit or fail together; the database returns the stock
when that voucher is cancelled or expires (trigger `vouchers_return_stock`).

It lives in `api` because merchants and redemption never import each other."""
from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import db, errors, idempotency
from merchants import model as merchant_model
from redemption import errors as redemption_errors, model as redemption_model


class ItemTaken(msgspec.Struct, frozen=True):
    """What taking an item made: the voucher, the item (its stock after), the
    reservation, and whether this was a retry answering the first."""
    voucher: dict[str, Any]
    item: dict[str, Any]
    reservation: dict[str, Any] | None
    replayed: bool


async def redeem_item(services: Any, item_id: int, realm: str, resident_id: int, idempotency_key: str,
                      actor: str) -> ItemTaken:
    """A retry with the same key answers the first voucher without taking stock again;
    the same key for another request is a 409."""
    item = await services.catalogue.item(item_id)  # merchant, asset and price never change
    if item["realm"] != realm:
        raise errors.Forbidden("this item is offered in another realm")
    found = await services.merchants.get(item["merchant_id"])
    merchant = redemption_model.Merchant(found["id"], found["realm"], found["kind"], found["status"])
    purpose = merchant_model.catalogue_purpose(item_id)
    fingerprint = services.vouchers.issue_fingerprint(resident_id, item["asset"], item["price"], merchant,
                                                      None, purpose)

    async def work(conn: AsyncConnection) -> ItemTaken:
        replay = await services.vouchers.issue_replay_in(conn, realm, idempotency_key, fingerprint)
        if replay is not None:
            reservation = await services.catalogue.reservation_in(conn, realm, replay["id"])
            return ItemTaken(voucher=replay, item=item, reservation=reservation, replayed=True)
        taken = await services.catalogue.reserve_in(conn, item_id)
        voucher = await services.vouchers.issue_in(conn, realm, resident_id, item["asset"], item["price"], merchant,
                                                   None, idempotency_key, actor, purpose)
        reservation = await services.catalogue.link_in(conn, taken, voucher)
        return ItemTaken(voucher=voucher, item=taken, reservation=reservation, replayed=False)

    return await idempotency.once(lambda: db.in_transaction(services.engine, work), redemption_errors.VoucherKeyRaced)
