"""A resident's history in plain words: each posting of one of its accounts with what it
was (earned at an activity, a voucher made, spent at a merchant with what came back,
cancelled, expired, corrected), the activity's title and the merchant's name."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, get
from litestar.params import FromPath, FromQuery

from api.errors import problems
from api.routes.common import PAGING, Caller, Service
from api.routes.earning import resident_for
from earning import errors as earning_errors
from earning.service import Earning
from ledger import errors
from ledger.service import Ledger
from merchants.service import Merchants
from redemption.service import Vouchers
from resources.model import reservation_of
from resources.service import Resources

VOUCHER_REFERENCE = "voucher:"
# The entry kind as a resident says it; release depends on why the voucher closed.
WHAT_BY_KIND = {"earn": "earned", "hold": "voucher_made", "capture": "spent",
                "adjustment": "corrected", "reversal": "corrected"}
WHAT_BY_RELEASE = {"cancelled": "cancelled", "expired": "expired"}
# A priority reservation's points: held at booking, paid to the provider, or given back.
WHAT_BY_RESERVATION = {"hold": "reservation_held", "release": "reservation_returned"}


class HistoryItem(msgspec.Struct):
    entry_id: int
    kind: str                      # the entry kind (earn, hold, capture, release, ...)
    what: str                      # earned, voucher_made, spent, cancelled, expired, corrected, other
    amount: int                    # signed, on the resident's account
    balance_after: int
    created_at: datetime
    activity_title: str | None = None
    voucher_id: int | None = None
    voucher_amount: int | None = None
    voucher_status: str | None = None
    spent: int | None = None       # points a merchant took from the voucher
    returned: int | None = None    # points of the voucher that came back to the resident
    merchant_name: str | None = None
    reservation_id: int | None = None
    reservation_title: str | None = None       # the resource booked (体检 ...)
    reservation_status: str | None = None      # booked, attended, no_show, cancelled, provider_cancelled
    reservation_starts_at: datetime | None = None


class HistoryPage(msgspec.Struct):
    resident_id: int
    asset: str
    account_id: int
    balance: int
    items: list[HistoryItem]
    next_cursor: str | None


def voucher_serial(reference: str | None) -> bytes | None:
    if not reference or not reference.startswith(VOUCHER_REFERENCE):
        return None
    try:
        return bytes.fromhex(reference[len(VOUCHER_REFERENCE):])
    except ValueError:
        return None


def history_item(posting: dict[str, Any], titles: dict[int, str], vouchers: dict[bytes, dict[str, Any]],
                 names: dict[int, str], reservations: dict[int, dict[str, Any]] | None = None) -> HistoryItem:
    reservation = (reservations or {}).get(reservation_of(posting["reference"]) or 0)
    if reservation is not None:
        return reservation_item(posting, reservation)
    item = HistoryItem(entry_id=posting["entry_id"], kind=posting["kind"],
                       what=WHAT_BY_KIND.get(posting["kind"], "other"), amount=posting["amount"],
                       balance_after=posting["balance_after"], created_at=posting["created_at"],
                       activity_title=titles.get(posting["entry_id"]))
    voucher = vouchers.get(voucher_serial(posting["reference"]) or b"")
    if voucher is None:
        return item
    item.voucher_id, item.voucher_amount = voucher["id"], voucher["amount"]
    item.voucher_status = voucher["status"]
    if voucher["captured_amount"] is not None:
        item.spent = voucher["captured_amount"]
        item.returned = voucher["amount"] - voucher["captured_amount"]
        item.merchant_name = names.get(voucher["redeemed_by"])
    elif voucher["status"] in WHAT_BY_RELEASE:
        item.returned = voucher["amount"]
    if posting["kind"] == "release":
        item.what = WHAT_BY_RELEASE.get(voucher["status"], "other")
    return item


def reservation_item(posting: dict[str, Any], reservation: dict[str, Any]) -> HistoryItem:
    """A priority booking's line. Only the hold and a release touch the resident's account:
    the hold line says whether the points were paid to the provider (attended, or a
    forfeited no-show), are still set aside, or came back (then a release line too)."""
    what = WHAT_BY_RESERVATION.get(posting["kind"], "other")
    if posting["kind"] == "hold" and reservation["points"] == "captured":
        what = "reservation_paid"
    return HistoryItem(entry_id=posting["entry_id"], kind=posting["kind"], what=what, amount=posting["amount"],
                       balance_after=posting["balance_after"], created_at=posting["created_at"],
                       merchant_name=reservation["provider_name"], reservation_id=reservation["id"],
                       reservation_title=reservation["title"], reservation_status=reservation["status"],
                       reservation_starts_at=reservation["starts_at"],
                       spent=reservation["price"] if reservation["points"] == "captured" else None,
                       returned=reservation["price"] if reservation["points"] == "released" else None)


class HistoryController(Controller):
    path = "/v1/residents/{resident_id:int}/history"
    tags = ["residents"]

    @get(responses=problems(earning_errors.ResidentNotFound, errors.InvalidInput, PAGING))
    async def resident_history(self, ledger: Service[Ledger], earning: Service[Earning],
                               vouchers: Service[Vouchers], merchants: Service[Merchants],
                               resources: Service[Resources], principal: Caller,
                               resident_id: FromPath[int], asset: FromQuery[str] = "civic",
                               cursor: FromQuery[str | None] = None,
                               limit: FromQuery[int | None] = None) -> HistoryPage:
        """The resident's postings in one asset, newest first, in words for the resident page."""
        resident = await resident_for(earning, principal, resident_id)
        account = next((a for a in resident["accounts"] if a["asset"] == asset), None)
        if account is None:
            raise errors.InvalidInput(f"the resident has no {asset} account")
        page = await ledger.history({**account, "realm": resident["realm"]}, cursor, limit)
        earned = [p["entry_id"] for p in page.items if p["kind"] == "earn"]
        titles = await earning.award_titles(resident, earned)
        serials = sorted({s for s in (voucher_serial(p["reference"]) for p in page.items) if s})
        found = await vouchers.by_serials(resident["realm"], serials)
        names = await merchants.names([v["redeemed_by"] for v in found.values() if v["redeemed_by"] is not None])
        reservations = await resources.by_ids(
            [r for r in (reservation_of(p["reference"]) for p in page.items) if r is not None])
        return HistoryPage(resident_id=resident["id"], asset=asset, account_id=account["id"],
                           balance=account["balance"],
                           items=[history_item(p, titles, found, names, reservations) for p in page.items],
                           next_cursor=page.next_cursor)


ROUTES = [HistoryController]
