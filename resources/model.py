"""The rules of shared resources and reservations (pure: no I/O; the clock is passed in).

A provider (a `service_provider` merchant, or an institution an admin registered) offers
resources: a kind, a scope (`realm`: its own realm's stations and residents only;
`shared`: every realm), a place (a station, a town, or online) and slots, each with a
capacity. A reservation takes one place of a slot, for a station (an organizer books for
an activity) or a resident (a personal slot).

Priority (积分优先预约): a resource with a `priority_price` keeps `priority_places` of each
slot for priority bookings and opens priority booking `priority_early_h` hours before
ordinary booking. The price is held at booking (`hold`: resident -> hold), then, once:

- attended: `capture` hold -> the provider's merchant account;
- cancelled by the booker before the cut-off, or by the provider: `release` hold -> resident;
- no-show: forfeited if the resource's policy says so (then `capture` to the provider,
  which kept the place for nobody), else `release` to the resident.

The policy is copied onto the reservation at booking: a later change of the resource's
policy never changes what a booked resident agreed to.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from ledger import errors as ledger_errors
from ledger import paging
from resources import errors

KINDS = ("talk", "training", "legal", "health", "agri_tech", "other")
SCOPES = ("realm", "shared")
PRIORITY_ASSET = "civic"
STATUSES = ("booked", "cancelled", "provider_cancelled", "attended", "no_show")
OUTCOMES = ("attended", "no_show")          # what a provider marks

# Named limits.
NAME_LENGTH_MAX = 200
TITLE_LENGTH_MAX = 200
DESCRIPTION_LENGTH_MAX = 2000
PRIORITY_PRICE_MAX = 1_000_000
CAPACITY_MAX = 10_000
PRIORITY_EARLY_H_MAX = 720
BOOKING_OPENS_H_MAX = 8760
CANCEL_CUTOFF_H_MAX = 720
CANCEL_CUTOFF_H_DEFAULT = 24
SLOT_LENGTH_H_MAX = 24
SLOT_AHEAD_DAYS_MAX = 366
PATTERN_WEEKS_MAX = 26
MARK_EARLY_S = 2 * 3600        # a provider may mark arrivals from this long before the start
ALTERNATIVES_MAX = 5
WEEK_DAYS = 7

# Where a resource is, seen from a station: the order of `GET /v1/resources?near=`.
SAME_STATION, SAME_TOWN, ONLINE, ELSEWHERE = 0, 1, 2, 3
PLACE_NAMES = ("same_station", "same_town", "online", "elsewhere")


@dataclass(frozen=True)
class Station:
    """Where a booker is (the route or service reads it from earning's tables)."""
    realm: str
    id: int
    town_id: int


@dataclass(frozen=True)
class Provider:
    """What a provider needs of its merchant (the route passes it in)."""
    merchant_id: int | None
    merchant_kind: str | None
    merchant_realm: str | None


def check_provider(realm: str, name: str, merchant: Provider) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(name) <= NAME_LENGTH_MAX:
        raise errors.InvalidResource(f"a provider's name is 1 to {NAME_LENGTH_MAX} characters")
    if merchant.merchant_id is not None:
        if merchant.merchant_realm != realm:
            raise errors.ProviderNotServiceProvider("the merchant is of another realm")
        if merchant.merchant_kind != "service_provider":
            raise errors.ProviderNotServiceProvider("a provider's merchant is a service_provider merchant")
    return name


def check_resource(fields: dict, provider_has_merchant: bool) -> dict:
    """A new resource's fields, checked and normalised (defaults filled in)."""
    if fields.get("kind") not in KINDS:
        raise errors.InvalidResource(f"kind is one of {', '.join(KINDS)}")
    if fields.get("scope") not in SCOPES:
        raise errors.InvalidResource(f"scope is one of {', '.join(SCOPES)}")
    title = (fields.get("title") or "").strip()
    if not 1 <= len(title) <= TITLE_LENGTH_MAX:
        raise errors.InvalidResource(f"a title is 1 to {TITLE_LENGTH_MAX} characters")
    description = fields.get("description")
    if description is not None and len(description) > DESCRIPTION_LENGTH_MAX:
        raise errors.InvalidResource(f"a description is at most {DESCRIPTION_LENGTH_MAX} characters")
    places = [fields.get("station_id") is not None, fields.get("town_id") is not None, bool(fields.get("online"))]
    if sum(places) != 1:
        raise errors.InvalidResource("a resource is at one station, or in one town, or online")
    checked = {**fields, "title": title, "online": bool(fields.get("online"))}
    checked.update(check_priority(fields, provider_has_merchant))
    return checked


def _bounded(fields: dict, name: str, low: int, high: int, default: int | None) -> int | None:
    value = fields.get(name, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise errors.InvalidResource(f"{name} is a whole number from {low} to {high}")
    return value


def check_priority(fields: dict, provider_has_merchant: bool) -> dict:
    price = _bounded(fields, "priority_price", 0, PRIORITY_PRICE_MAX, 0) or 0
    policy = {
        "priority_price": price,
        "priority_places": _bounded(fields, "priority_places", 0, CAPACITY_MAX, 0),
        "priority_early_h": _bounded(fields, "priority_early_h", 0, PRIORITY_EARLY_H_MAX, 0),
        "booking_opens_h": _bounded(fields, "booking_opens_h", 1, BOOKING_OPENS_H_MAX, None),
        "cancel_cutoff_h": _bounded(fields, "cancel_cutoff_h", 0, CANCEL_CUTOFF_H_MAX, CANCEL_CUTOFF_H_DEFAULT),
        "no_show_forfeit": bool(fields.get("no_show_forfeit", True)),
    }
    if price == 0 and (policy["priority_places"] or policy["priority_early_h"]):
        raise errors.InvalidResource("priority places and an early window need a priority_price")
    if price > 0 and not provider_has_merchant:
        raise errors.PriorityNeedsMerchant("priority is paid to the provider's merchant account: "
                                           "an institution without one offers none")
    return policy


def check_slot(starts_at: datetime, ends_at: datetime, capacity: int, priority_places: int,
               priority_price: int, now: datetime) -> None:
    """(Only subtractions of times: a start in year 9999 is refused, never overflows.)"""
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise ledger_errors.InvalidTimestamp("timestamps carry a UTC offset, e.g. 2026-11-28T09:00:00+08:00")
    if starts_at <= now:
        raise errors.SlotPast("a new slot starts in the future")
    if starts_at - now > timedelta(days=SLOT_AHEAD_DAYS_MAX):
        raise errors.InvalidSlot(f"a slot starts within {SLOT_AHEAD_DAYS_MAX} days")
    if not timedelta(0) < ends_at - starts_at <= timedelta(hours=SLOT_LENGTH_H_MAX):
        raise errors.InvalidSlot(f"a slot ends after it starts, within {SLOT_LENGTH_H_MAX} hours")
    if not 1 <= capacity <= CAPACITY_MAX:
        raise errors.InvalidSlot(f"capacity is 1 to {CAPACITY_MAX}")
    if not 0 <= priority_places <= capacity:
        raise errors.InvalidSlot("priority places are between 0 and the capacity")
    if priority_places and not priority_price:
        raise errors.InvalidSlot("priority places need a resource with a priority_price")


def weekly_starts(first: datetime, weeks: int, tz_name: str) -> list[datetime]:
    """The starts of a weekly pattern: the same local wall-clock time each week (in the
    realm's time zone, so a daylight-saving change does not shift it)."""
    if first.tzinfo is None:
        raise ledger_errors.InvalidTimestamp("timestamps carry a UTC offset, e.g. 2026-11-28T09:00:00+08:00")
    if not 1 <= weeks <= PATTERN_WEEKS_MAX:
        raise errors.InvalidPattern(f"weeks is 1 to {PATTERN_WEEKS_MAX}")
    try:
        wall = first.astimezone(ZoneInfo(tz_name)).replace(tzinfo=None)
        return [(wall + timedelta(days=WEEK_DAYS * week)).replace(tzinfo=ZoneInfo(tz_name)).astimezone(timezone.utc)
                for week in range(weeks)]
    except OverflowError:
        raise errors.InvalidPattern(f"a pattern starts within {SLOT_AHEAD_DAYS_MAX} days") from None


@dataclass(frozen=True)
class SlotView:
    """What booking needs of a slot and its resource's policy."""
    starts_at: datetime
    capacity: int
    priority_places: int
    booked: int
    priority_booked: int
    priority_price: int
    priority_early_h: int
    booking_opens_h: int | None
    cancelled: bool = False


def opens_at(slot: SlotView, priority: bool) -> datetime | None:
    """When booking opens (None: from the slot's creation); priority opens earlier."""
    if slot.booking_opens_h is None:
        return None
    opening = slot.starts_at - timedelta(hours=slot.booking_opens_h)
    return opening - timedelta(hours=slot.priority_early_h) if priority else opening


def free_places(slot: SlotView, priority: bool) -> int:
    """Places a booking of this kind may still take (priority ones may take any)."""
    free = slot.capacity - slot.booked
    if priority:
        return free
    ordinary_free = (slot.capacity - slot.priority_places) - (slot.booked - slot.priority_booked)
    return min(free, ordinary_free)


def check_bookable(slot: SlotView, priority: bool, now: datetime) -> None:
    """Every check of a booking that needs no database (the database holds the count)."""
    if slot.cancelled:
        raise errors.SlotCancelled("the provider cancelled this slot")
    if slot.starts_at <= now:
        raise errors.SlotPast("this slot has started or is over")
    if priority and slot.priority_price == 0:
        raise errors.PriorityNotOffered("this resource offers no priority booking")
    opening = opens_at(slot, priority)
    if opening is not None and now < opening:
        raise errors.BookingNotOpen("booking opens later", opens_at=opening.isoformat())
    if free_places(slot, priority) <= 0:
        raise errors.SlotFull("no place is left in this slot")


def check_cancel(starts_at: datetime, cutoff_h: int, by_provider: bool, now: datetime) -> str:
    """The status a cancellation closes a reservation with, or why it cannot."""
    if by_provider:
        return "provider_cancelled"
    cutoff = starts_at - timedelta(hours=cutoff_h)
    if now > cutoff:
        raise errors.CancelCutoffPassed("it is too late to cancel this reservation", cutoff=cutoff.isoformat())
    return "cancelled"


def check_mark(outcome: str, starts_at: datetime, now: datetime) -> None:
    if outcome not in OUTCOMES:
        raise errors.InvalidBooking(f"a provider marks one of {', '.join(OUTCOMES)}")
    opening = starts_at - timedelta(seconds=MARK_EARLY_S) if outcome == "attended" else starts_at
    if now < opening:
        raise errors.MarkTooEarly(f"{outcome} can be marked from {opening.isoformat()}")


def points_after(status: str, priority: bool, forfeit: bool) -> str:
    """What becomes of a reservation's points when it closes with `status`."""
    if not priority:
        return "none"
    if status == "attended" or (status == "no_show" and forfeit):
        return "captured"
    return "released"


def place_rank(resource_realm: str, station_id: int | None, town_id: int | None, online: bool,
               resource_town_id: int | None, near: Station) -> int:
    """Same station, same town, online, then the rest (`resource_town_id`: the town of the
    resource's station, or its own town)."""
    if resource_realm == near.realm and station_id == near.id:
        return SAME_STATION
    if resource_realm == near.realm and resource_town_id == near.town_id:
        return SAME_TOWN
    if online:
        return ONLINE
    return ELSEWHERE


def week_of(at: datetime, tz_name: str) -> tuple[datetime, datetime]:
    """Monday 00:00 to the next Monday 00:00 in the realm's time zone, in UTC."""
    zone = ZoneInfo(tz_name)
    day = at.astimezone(zone).date()
    monday = datetime.combine(day - timedelta(days=day.weekday()), time(0), zone)
    return monday.astimezone(timezone.utc), (monday + timedelta(days=WEEK_DAYS)).astimezone(timezone.utc)


def reference(reservation_id: int) -> str:
    """The ledger entries' reference for a reservation's points (history reads it)."""
    return f"reservation:{reservation_id}"


def reservation_of(reference_text: str | None) -> int | None:
    prefix = "reservation:"
    if not reference_text or not reference_text.startswith(prefix):
        return None
    number = reference_text[len(prefix):]
    return int(number) if number.isdigit() else None


# The lists' cursors (ledger.paging), one kind per list so that one list refuses another's:
# a position past CURSOR_POSITION_MAX is no cursor this service gave out (and would be no
# bigint). A `near` list's cursor carries rank * RANK_SPAN + id.
CURSOR_POSITION_MAX = 2**62
RANK_SPAN = 2**40   # ids stay far below it
PROVIDERS, NEAR, SLOTS, RESERVATIONS = "rp1", "rn1", "rl1", "rs1"


def encode_cursor(position: int, kind: str = RESERVATIONS) -> str:
    return paging.encode_cursor(position, kind)


def decode_cursor(cursor: str | None, kind: str = RESERVATIONS, minimum: int = 1) -> int | None:
    position = paging.decode_cursor(cursor, kind, minimum)
    if position is not None and position > CURSOR_POSITION_MAX:
        raise ledger_errors.InvalidCursor("the cursor is not one this service gave out")
    return position


def near_cursor(row: dict) -> str:
    """The cursor after a row of a `near` list (ranked: nearest first, then by id)."""
    return encode_cursor(row["rank"] * RANK_SPAN + row["id"], NEAR)


def id_cursor(kind: str) -> Callable[[dict], str]:
    """The cursor after a row of a list ordered by id."""
    return lambda row: encode_cursor(row["id"], kind)
