"""The merchants' rules (pure): the registry (kinds, statuses, which account each kind
opens, allowed status changes), the rewards catalogue, settlement periods and statements,
and the page cursors."""
from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from ledger import errors as ledger_errors
from ledger import idempotency, paging
from ledger.assets import ASSETS
from merchants import errors

KINDS = ("general", "agri_shop", "service_provider")
STATUSES = ("active", "suspended", "closed")
# What a merchant of each kind may receive: civic everywhere, agri only at agri shops.
ASSETS_BY_KIND = {"general": ("civic",), "agri_shop": ("civic", "agri"),
                  "service_provider": ("civic",)}
# Allowed status changes; closed is final (its points stay until settled).
TRANSITIONS = {("active", "suspended"), ("suspended", "active"),
               ("active", "closed"), ("suspended", "closed")}

NAME_LENGTH_MAX = 200
CONTACT_LENGTH_MAX = 200


def check_new(kind: str, name: str, contact: str | None) -> None:
    if kind not in KINDS:
        raise errors.InvalidMerchantKind(f"kind is one of {', '.join(KINDS)}", kind=kind)
    if not 1 <= len(name.strip()) <= NAME_LENGTH_MAX:
        raise errors.InvalidMerchant(f"a merchant's name is 1 to {NAME_LENGTH_MAX} characters")
    if contact is not None and len(contact) > CONTACT_LENGTH_MAX:
        raise errors.InvalidMerchant(f"contact is at most {CONTACT_LENGTH_MAX} characters")


def check_transition(current: str, wanted: str) -> None:
    if wanted not in STATUSES:
        raise errors.InvalidMerchantStatus(f"status is one of {', '.join(STATUSES)}", status=wanted)
    if current == "closed":
        raise errors.MerchantClosed("a closed merchant stays closed")
    if current != wanted and (current, wanted) not in TRANSITIONS:
        raise errors.InvalidMerchantStatus(f"cannot go from {current} to {wanted}")


CURSOR = paging.Cursor("m1", minimum=0)
encode_cursor, decode_cursor = CURSOR.encode, CURSOR.decode


# Rewards catalogue ------------------------------------------------------------------------

ITEM_NAME_LENGTH_MAX = 200
ITEM_DESCRIPTION_LENGTH_MAX = 2000
ITEM_PRICE_POINTS_MAX = 1_000_000      # the most one voucher can hold
ITEM_STOCK_MAX = 1_000_000


def check_item(merchant_kind: str, name: str, description: str | None, price: object, asset: str,
               stock: object, active_from: datetime | None, active_until: datetime | None) -> None:
    """A new catalogue item: a name, a whole positive price, agri only at agri shops."""
    if not 1 <= len(name.strip()) <= ITEM_NAME_LENGTH_MAX:
        raise errors.InvalidCatalogueItem(f"an item's name is 1 to {ITEM_NAME_LENGTH_MAX} characters")
    if description is not None and len(description) > ITEM_DESCRIPTION_LENGTH_MAX:
        raise errors.InvalidCatalogueItem(f"a description is at most {ITEM_DESCRIPTION_LENGTH_MAX} characters")
    if not _whole(price) or not 0 < price <= ITEM_PRICE_POINTS_MAX:  # type: ignore[operator]
        raise errors.InvalidPrice(f"a price is a whole number of points, 1 to {ITEM_PRICE_POINTS_MAX}",
                                  price=price if _whole(price) else None)
    if asset not in ASSETS:
        raise errors.InvalidCatalogueItem(f"asset is one of {', '.join(ASSETS)}")
    if asset not in ASSETS_BY_KIND[merchant_kind]:
        raise errors.AgriNeedsAgriShop("agri points are spent only at agri_shop merchants")
    if stock is not None:
        check_stock(stock)
    for moment in (active_from, active_until):
        if moment is not None and moment.tzinfo is None:
            raise ledger_errors.InvalidTimestamp("timestamps carry a UTC offset")
    if active_from is not None and active_until is not None and active_until <= active_from:
        raise errors.InvalidCatalogueItem("active_until comes after active_from")


def check_stock(stock: object) -> int:
    if not _whole(stock) or not 0 <= stock <= ITEM_STOCK_MAX:  # type: ignore[operator]
        raise errors.InvalidCatalogueItem(f"stock is a whole number, 0 to {ITEM_STOCK_MAX}")
    return stock  # type: ignore[return-value]


def check_item_change(restock: object, active: object) -> None:
    """A change names something to change: a restock, or the item's active flag."""
    if restock is None and active is None:
        raise errors.NothingToChange("send restock or active (or both)")
    if restock is not None:
        check_restock(restock)


def check_restock(added: object) -> int:
    if not _whole(added) or not 0 < added <= ITEM_STOCK_MAX:  # type: ignore[operator]
        raise errors.InvalidCatalogueItem(f"restock adds 1 to {ITEM_STOCK_MAX} items")
    return added  # type: ignore[return-value]


def availability_refusal(item: dict[str, Any], merchant_status: str, now: datetime) -> errors.DomainError | None:
    """Why a resident cannot take this item now (None: it can be taken)."""
    if merchant_status != "active":
        return errors.MerchantNotActive(f"merchant {item['merchant_id']} is {merchant_status}")
    if not item["active"]:
        return errors.ItemNotAvailable("this item is not offered now")
    if item["active_from"] is not None and now < item["active_from"]:
        return errors.ItemNotAvailable("this item is not offered yet")
    if item["active_until"] is not None and now >= item["active_until"]:
        return errors.ItemNotAvailable("this item is no longer offered")
    if item["stock"] is not None and item["stock"] <= 0:
        return errors.OutOfStock("none of this item is left", item_id=item["id"])
    return None


def catalogue_purpose(item_id: int) -> str:
    """What a catalogue voucher's request fingerprint adds, so that an Idempotency-Key
    used for one item is never answered with a voucher for another."""
    return f"catalogue:{item_id}"


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


RANK_CURSOR = "r1"
MONTH_CURSOR = "mo1"


def encode_rank_cursor(rank: int, after_id: int) -> str:
    return paging.encode_parts(RANK_CURSOR, rank, after_id)


def decode_rank_cursor(cursor: str | None) -> tuple[int, int] | None:
    """(rank, id) of the last item seen: rewards are listed by (rank, id)."""
    if not cursor:
        return None
    rank, after_id = paging.decode_parts(cursor, RANK_CURSOR, 2)
    parsed = (paging.whole_at_least(rank, 0), paging.whole_at_least(after_id, 0))
    if parsed[0] not in (0, 1):
        raise ledger_errors.InvalidCursor("the cursor is not one this service gave out")
    return parsed


def encode_month_cursor(month: str, asset: str) -> str:
    return paging.encode_parts(MONTH_CURSOR, month, asset)


def decode_month_cursor(cursor: str | None) -> tuple[str, str | None] | None:
    """The last (month YYYY-MM, asset) a report page showed; a cursor made before the
    asset joined it names only the month (continue after the whole month)."""
    if not cursor:
        return None
    month, *asset = paging.decode_parts(cursor, MONTH_CURSOR, (1, 2))
    try:
        datetime.strptime(month, "%Y-%m")
    except ValueError:
        raise ledger_errors.InvalidCursor("the cursor is not one this service gave out") from None
    if asset and asset[0] not in ASSETS:
        raise ledger_errors.InvalidCursor("the cursor is not one this service gave out")
    return month, (asset[0] if asset else None)


# Settlement -------------------------------------------------------------------------------

RATE_FEN_PER_POINT_MAX = 100_000
BANK_REFERENCE_LENGTH_MAX = 100
STATEMENT_VERSION = 1
STATEMENTS_IN_VIEW_MAX = 12            # past statements on the merchant's overview
SETTLEMENT_PAGE_SIZE_MAX = paging.PAGE_SIZE_MAX
KINDS_RECEIVED = ("capture", "clear", "adjustment")   # what a merchant account receives


def check_rate(fen_per_point: object) -> int:
    if not _whole(fen_per_point) or not 1 <= fen_per_point <= RATE_FEN_PER_POINT_MAX:  # type: ignore[operator]
        raise errors.InvalidRate(f"the rate is a whole number of fen per point, 1 to {RATE_FEN_PER_POINT_MAX}")
    return fen_per_point  # type: ignore[return-value]


def cutoff_of(to: date | datetime, tz_name: str) -> datetime:
    """The end of a period (exclusive), in UTC: a date means "through that local day"
    (the cut-off is the next local midnight); a timestamp is the cut-off itself."""
    if isinstance(to, datetime):
        if to.tzinfo is None:
            raise ledger_errors.InvalidTimestamp("a cut-off timestamp carries a UTC offset")
        return to.astimezone(timezone.utc)
    next_midnight = datetime.combine(to + timedelta(days=1), time(0), ZoneInfo(tz_name))
    return next_midnight.astimezone(timezone.utc)


def period_start(previous_end: datetime | None, merchant_created_at: datetime,
                 requested: date | None, tz_name: str) -> datetime:
    """Where the next period starts: where the last one ended (no gap, no overlap), or at
    the merchant's creation for its first. A requested start date must agree."""
    start = previous_end or merchant_created_at
    if requested is None:
        return start
    expected = start.astimezone(ZoneInfo(tz_name)).date()
    if requested < expected and previous_end is not None:
        raise errors.PeriodOverlaps(f"settled through {previous_end.isoformat()}: the next period starts "
                                    f"on {expected.isoformat()}", settled_through=previous_end.isoformat())
    if requested > expected:
        raise errors.PeriodGap(f"the next period starts on {expected.isoformat()}; settling from "
                               f"{requested.isoformat()} would skip redemptions")
    return start


def check_period(start: datetime, cutoff: datetime, previous_end: datetime | None, now: datetime) -> None:
    if previous_end is not None and cutoff < previous_end:
        raise errors.PeriodOverlaps(f"already settled through {previous_end.isoformat()}",
                                    settled_through=previous_end.isoformat())
    if cutoff > now:
        raise errors.PeriodFuture("a period can be settled only after its cut-off has passed",
                                  period_end=cutoff.isoformat())
    if cutoff <= start:
        raise errors.InvalidPeriod(f"the period would end ({cutoff.isoformat()}) before it starts "
                                   f"({start.isoformat()})")


def yuan(fen: int) -> str:
    """Fen as a yuan amount with two decimals, exactly (no float)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def voucher_serial(reference: str | None) -> str | None:
    """The voucher serial (hex) an entry's `voucher:<hex>` reference names."""
    if reference and reference.startswith("voucher:"):
        return reference.removeprefix("voucher:")
    return None


def statement_line(posting: dict[str, Any]) -> dict[str, Any]:
    return {"entry_id": posting["entry_id"], "kind": posting["kind"], "asset": posting["asset"],
            "voucher_serial": voucher_serial(posting["reference"]), "reference": posting["reference"],
            "time": iso(posting["created_at"]), "points": posting["amount"]}


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


def statement(realm: dict[str, Any], merchant: dict[str, Any], start: datetime, cutoff: datetime,
              fen_per_point: int, lines: list[dict[str, Any]], accounts: list[dict[str, Any]],
              entry_id: int | None, settled_at: datetime) -> dict[str, Any]:
    """The statement of one merchant's period (what is hashed and signed)."""
    zone = ZoneInfo(realm["timezone"])
    by_asset = {asset: sum(line["points"] for line in lines if line["asset"] == asset) for asset in ASSETS}
    total = sum(by_asset.values())
    return {
        "version": STATEMENT_VERSION,
        "realm": {"code": realm["code"], "name": realm["name"], "timezone": realm["timezone"]},
        "merchant": {"id": merchant["id"], "name": merchant["name"], "kind": merchant["kind"]},
        "period": {"start": iso(start), "end": iso(cutoff),
                   "start_local": start.astimezone(zone).isoformat(),
                   "end_local": cutoff.astimezone(zone).isoformat()},
        "rate_fen_per_point": fen_per_point,
        "lines": lines,
        "accounts": accounts,
        "totals": {"points_by_asset": by_asset, "points": total, "lines": len(lines),
                   "amount_fen": total * fen_per_point, "amount_yuan": yuan(total * fen_per_point)},
        "entry_id": entry_id,
        "settled_at": iso(settled_at),
    }


def canonical(document: dict[str, Any]) -> bytes:
    """The exact bytes hashed and signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def statement_digest(document: dict[str, Any]) -> bytes:
    return hashlib.sha256(canonical(document)).digest()


def settlement_request_hash(**fields: object) -> bytes:
    return idempotency.request_hash({"op": "settle", **fields})


def settle_entry_key(merchant_id: int, cutoff: datetime) -> str:
    """The settle entry's idempotency key: one entry per merchant and cut-off, whatever
    retries."""
    return f"settle:{merchant_id}:{int(cutoff.timestamp() * 1_000_000)}"


def check_payment(bank_reference: str, paid_on: date, today: date) -> None:
    if not 1 <= len(bank_reference.strip()) <= BANK_REFERENCE_LENGTH_MAX:
        raise errors.InvalidPayment(f"a bank reference is 1 to {BANK_REFERENCE_LENGTH_MAX} characters")
    if paid_on > today:
        raise errors.InvalidPayment("a payment cannot be dated in the future")


def local_day_bounds(now: datetime, tz_name: str) -> tuple[datetime, datetime]:
    """Today in the realm's time zone, as a UTC [start, end)."""
    zone = ZoneInfo(tz_name)
    today = now.astimezone(zone).date()
    start = datetime.combine(today, time(0), zone)
    return start.astimezone(timezone.utc), (start + timedelta(days=1)).astimezone(timezone.utc)
