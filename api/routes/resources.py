"""Shared resources and reservations (issue 15): providers, resources nearest first,
slots, booking (priority paid in points), cancelling, and the provider's marks.

Who may (every route also checks the realm):
- providers: an admin registers them; admins, organizers and auditors list them; a
  merchant token sees only the provider it is.
- resources and slots: an admin of the provider's realm, or the provider's own merchant
  token, creates them; everyone of a realm lists what that realm may book (its own and
  shared ones); a merchant lists only its own.
- booking: a resident for itself; an organizer for its station, or a resident in its
  scope; an admin of the realm. Merchants and auditors never book.
- cancelling: whoever may book it, before the cut-off; the provider (its merchant token,
  or an admin of the resource's realm) at any time, which releases priority points.
- attended / no-show: the provider's merchant token, or an admin of the resource's realm
  (for an institution without a merchant). Another provider: `reservation_of_other_provider`.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType
from litestar import Controller, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.auth import Principal, roles
from api.errors import problems
from api.routes.common import (PAGING, Caller, IdempotencyKey, ItemsPage, Service, check_resident_scope,
                               parse_timestamp, replayable, required_idempotency_key, shaped)
from earning import errors as earning_errors
from earning.service import Earning
from ledger import errors
from ledger.service import Ledger
from merchants import errors as merchant_errors
from merchants.service import Merchants
from resources import errors as resource_errors
from resources import model
from resources.service import Booker, Resources


# bodies ------------------------------------------------------------------------------------

class ProviderIn(msgspec.Struct, forbid_unknown_fields=True):
    realm: str
    name: str
    merchant_id: int | None = None


class ProviderOut(msgspec.Struct):
    realm: str
    id: int
    name: str
    created_at: datetime
    merchant_id: int | None = None


class ResourceIn(msgspec.Struct, forbid_unknown_fields=True):
    provider_id: int
    kind: str
    title: str
    scope: str
    description: str | None = None
    station_id: int | None = None
    town_id: int | None = None
    online: bool = False
    priority_price: int = 0
    priority_places: int = 0
    priority_early_h: int = 0
    booking_opens_h: int | None = None
    cancel_cutoff_h: int = model.CANCEL_CUTOFF_H_DEFAULT
    no_show_forfeit: bool = True


class ResourceOut(msgspec.Struct):
    realm: str
    id: int
    provider_id: int
    provider_name: str
    kind: str
    title: str
    scope: str
    online: bool
    priority_price: int
    priority_places: int
    priority_early_h: int
    cancel_cutoff_h: int
    no_show_forfeit: bool
    created_at: datetime
    description: str | None = None
    station_id: int | None = None
    station_name: str | None = None
    town_id: int | None = None
    booking_opens_h: int | None = None
    place: str | None = None       # from `near`: same_station, same_town, online, elsewhere


class SlotIn(msgspec.Struct, forbid_unknown_fields=True):
    starts_at: str
    ends_at: str
    capacity: int
    priority_places: int = 0


class WeeklySlotsIn(msgspec.Struct, forbid_unknown_fields=True):
    first_starts_at: str
    duration_min: int
    weeks: int
    capacity: int
    priority_places: int = 0


class SlotOut(msgspec.Struct):
    realm: str
    id: int
    resource_id: int
    starts_at: datetime
    ends_at: datetime
    capacity: int
    priority_places: int
    booked: int
    free_places: int            # for an ordinary booking
    free_priority_places: int   # for a priority booking (any free place)
    cancelled_at: datetime | None = None    # the provider cancelled it: no place is free
    released: int | UnsetType = UNSET       # (a cancel's answer) bookings it cancelled, points released


class ReservationIn(msgspec.Struct, forbid_unknown_fields=True):
    slot_id: int
    station_id: int | None = None
    resident_id: int | None = None
    priority: bool = False


class AlternativeOut(msgspec.Struct):
    resource_id: int
    realm: str
    title: str
    kind: str
    place: str
    slot_id: int
    starts_at: datetime
    ends_at: datetime
    free_places: int


class ReservationOut(msgspec.Struct):
    realm: str
    id: int
    slot_id: int
    resource_id: int
    provider_id: int
    provider_name: str
    title: str
    kind: str
    starts_at: datetime
    ends_at: datetime
    cancel_until: datetime
    booker_realm: str
    priority: bool
    price: int
    status: str
    points: str                 # none, held, captured, released
    created_at: datetime
    resident_id: int | None = None
    resident_name: str | None = None     # its readers are the resident, its provider and staff
    station_id: int | None = None
    station_name: str | None = None      # the booking station's
    hold_entry_id: int | None = None
    close_entry_id: int | None = None
    closed_at: datetime | None = None
    alternatives: list[AlternativeOut] = []


# shapes ------------------------------------------------------------------------------------

def resource_out(row: dict[str, Any], near: bool = False) -> ResourceOut:
    """`near`: the row was ranked from a station, so its `rank` says where it is from there."""
    return shaped(ResourceOut, {**row, "place": model.PLACE_NAMES[row["rank"]] if near else None})


def slot_out(row: dict[str, Any]) -> SlotOut:
    view = model.SlotView(row["starts_at"], row["capacity"], row["priority_places"], row["booked"],
                          row["priority_booked"], 0, 0, None)
    open_places = row["cancelled_at"] is None
    return shaped(SlotOut, {**row, "free_places": model.free_places(view, False) if open_places else 0,
                            "free_priority_places": model.free_places(view, True) if open_places else 0})


def reservation_out(row: dict[str, Any]) -> ReservationOut:
    alternatives = [shaped(AlternativeOut, {**a, "place": model.PLACE_NAMES[a["rank"]]})
                    for a in row.get("alternatives", [])]
    return shaped(ReservationOut, {**row, "alternatives": alternatives,
                                   "cancel_until": row["starts_at"] - timedelta(hours=row["cancel_cutoff_h"])})


# what the operations can answer, beyond what every one can ----------------------------------

REGISTER = (resource_errors.InvalidResource, resource_errors.ProviderNotServiceProvider,
            resource_errors.ProviderExists, merchant_errors.MerchantNotFound, errors.RealmNotFound,
            errors.InvalidRealm)
CREATE = (resource_errors.ProviderNotFound, resource_errors.InvalidResource, resource_errors.PriorityNeedsMerchant)
LIST_RESOURCES = (*PAGING, resource_errors.InvalidResource, earning_errors.StationNotFound,
                  earning_errors.ResidentNotFound)
SLOT_WRITE = (resource_errors.ResourceNotFound, resource_errors.ProviderNotFound, resource_errors.InvalidSlot,
              resource_errors.SlotPast, resource_errors.SlotExists, errors.InvalidTimestamp)
BOOK = (resource_errors.InvalidBooking, resource_errors.SlotNotFound, resource_errors.SlotPast,
        resource_errors.SlotFull, resource_errors.SlotCancelled, resource_errors.BookingNotOpen,
        resource_errors.PriorityNotOffered, resource_errors.PriorityOtherRealm, resource_errors.ResourceOutOfScope,
        resource_errors.AlreadyBooked, errors.InsufficientPoints, earning_errors.ResidentNotFound,
        earning_errors.StationNotFound)
CLOSE = (resource_errors.ReservationNotFound, resource_errors.ReservationClosed, resource_errors.OtherProvider)
MARK = (*CLOSE, resource_errors.MarkTooEarly)


# scope -------------------------------------------------------------------------------------

async def provider_for(resources: Resources, principal: Principal, provider_id: int) -> dict[str, Any]:
    """A provider the caller may act for: an admin of its realm, or its own merchant token."""
    provider = await resources.provider(provider_id)
    principal.require(provider["realm"], "admin", "merchant")
    if principal.role == "merchant" and principal.merchant_id != provider["merchant_id"]:
        raise errors.Forbidden("a merchant token acts only for its own provider")
    return provider


async def own_provider(resources: Resources, principal: Principal) -> dict[str, Any] | None:
    """The provider a merchant token is (None for other roles; a merchant that is no
    provider is refused)."""
    if principal.role != "merchant":
        return None
    provider = await resources.provider_of_merchant(principal.merchant_id)
    if provider is None:
        raise errors.Forbidden("this merchant is not a resource provider")
    return provider


async def station_of(earning: Earning, station_id: int) -> model.Station:
    station = await earning.station(station_id)
    return model.Station(station["realm"], station["id"], station["town_id"])


async def booker_for(earning: Earning, principal: Principal, body: ReservationIn) -> Booker:
    """Who books, within the caller's scope: a resident itself; an organizer's station or
    a resident in its scope; an admin's realm."""
    if (body.station_id is None) == (body.resident_id is None) and principal.role != "resident":
        raise resource_errors.InvalidBooking("name one of station_id or resident_id")
    if principal.role == "resident" or body.resident_id is not None:
        if principal.role == "resident" and (body.station_id is not None
                                             or body.resident_id not in (None, principal.resident_id)):
            raise errors.Forbidden("a resident books only for itself")
        resident = await earning.resident(body.resident_id or principal.resident_id)
        await check_resident_scope(earning, principal, resident["realm"], resident["id"], named=True)
        return Booker(resident["realm"], await station_of(earning, resident["station_id"]), resident["id"])
    station = await station_of(earning, body.station_id)  # type: ignore[arg-type]
    principal.require_station(station.realm, station.id)
    return Booker(station.realm, station)


def check_reader(principal: Principal, found: dict[str, Any]) -> dict[str, Any]:
    """A reservation as its reader may see it: its provider, its resident, its station's
    organizer, staff of its realm or of the booker's."""
    if principal.role == "merchant":
        if principal.merchant_id != found["merchant_id"]:
            raise errors.Forbidden("a provider sees only its own bookings")
    elif principal.role == "resident":
        if principal.realm != found["booker_realm"] or principal.resident_id != found["resident_id"]:
            raise errors.Forbidden("a resident sees only its own bookings")
    elif principal.role == "organizer":
        principal.require_station(found["booker_realm"], found["booker_station_id"])
    elif principal.realm not in (None, found["realm"], found["booker_realm"]):
        raise errors.Forbidden(f"this token is scoped to realm {principal.realm}")
    return found


def check_provider_side(principal: Principal, found: dict[str, Any]) -> None:
    """The provider of this reservation: its merchant token, or an admin of its realm."""
    principal.require_role("merchant", "admin")
    if principal.role == "merchant" and principal.merchant_id != found["merchant_id"]:
        raise resource_errors.OtherProvider("this reservation is another provider's")
    principal.require_realm(found["realm"])


async def visible_resource(resources: Resources, principal: Principal, resource_id: int) -> dict[str, Any]:
    resource = await resources.resource(resource_id)
    if principal.role == "merchant":
        if principal.merchant_id != resource["merchant_id"]:
            raise errors.Forbidden("a merchant sees only its own resources")
    elif resource["scope"] != "shared":
        principal.require_realm(resource["realm"])
    return resource


async def slot_of_provider(resources: Resources, principal: Principal, resource_id: int) -> dict[str, Any]:
    """The resource, for its provider (an admin of its realm, or its merchant token)."""
    resource = await resources.resource(resource_id)
    await provider_for(resources, principal, resource["provider_id"])
    return resource


# controllers -------------------------------------------------------------------------------

class ProvidersController(Controller):
    path = "/v1/resource-providers"
    tags = ["resources"]

    @post(status_code=201, guards=[roles("admin")], responses=problems(REGISTER))
    async def register_provider(self, resources: Service[Resources], merchants: Service[Merchants],
                                ledger: Service[Ledger], principal: Caller, data: JSONBody[ProviderIn],
                                idempotency_key: IdempotencyKey = None) -> Response[ProviderOut]:
        """A provider: a service_provider merchant, or an institution without one (a retry
        with the same Idempotency-Key answers it again)."""
        key = required_idempotency_key(idempotency_key)
        principal.require(data.realm, "admin")
        await ledger.realm(data.realm)
        merchant = model.Provider(None, None, None)
        if data.merchant_id is not None:
            found = await merchants.get(data.merchant_id)
            merchant = model.Provider(found["id"], found["kind"], found["realm"])
        made = await resources.register_provider(data.realm, data.name, merchant, principal.actor, key)
        return replayable(shaped(ProviderOut, made), made["replayed"])

    @get(guards=[roles("admin", "organizer", "auditor", "merchant")], responses=problems(PAGING))
    async def list_providers(self, resources: Service[Resources], principal: Caller, realm: FromQuery[str],
                             cursor: FromQuery[str | None] = None,
                             limit: FromQuery[int | None] = None) -> ItemsPage[ProviderOut]:
        """The realm's providers; a merchant token sees only the provider it is."""
        principal.require(realm, "admin", "organizer", "auditor", "merchant")
        mine = await own_provider(resources, principal)
        if mine is not None:
            return ItemsPage([shaped(ProviderOut, mine)] if mine["realm"] == realm else [], None)
        page = await resources.providers(realm, cursor, limit)
        return ItemsPage([shaped(ProviderOut, row) for row in page.items], page.next_cursor)

    @get("/mine", guards=[roles("merchant")])
    async def my_provider(self, resources: Service[Resources], principal: Caller) -> ProviderOut:
        """The provider this merchant token is (403 for a merchant that is none)."""
        principal.require_role("merchant")
        return shaped(ProviderOut, await own_provider(resources, principal))


class ResourcesController(Controller):
    path = "/v1/resources"
    tags = ["resources"]

    @post(status_code=201, guards=[roles("admin", "merchant")], responses=problems(CREATE))
    async def create_resource(self, resources: Service[Resources], principal: Caller, data: JSONBody[ResourceIn],
                              idempotency_key: IdempotencyKey = None) -> Response[ResourceOut]:
        """A resource (a retry with the same Idempotency-Key answers it again)."""
        key = required_idempotency_key(idempotency_key)
        provider = await provider_for(resources, principal, data.provider_id)
        made = await resources.create_resource(provider, msgspec.structs.asdict(data), principal.actor, key)
        return replayable(resource_out(made), made["replayed"])

    @get(responses=problems(LIST_RESOURCES))
    async def list_resources(self, resources: Service[Resources], earning: Service[Earning], principal: Caller,
                             realm: FromQuery[str], near: FromQuery[int | None] = None,
                             kind: FromQuery[str | None] = None, cursor: FromQuery[str | None] = None,
                             limit: FromQuery[int | None] = None) -> ItemsPage[ResourceOut]:
        """What `realm` may book (its own and shared resources): with `near` (a station;
        a resident's own by default) the same station first, then the same town, online,
        the rest. A merchant lists only its own."""
        principal.require_realm(realm)
        mine = await own_provider(resources, principal)
        if near is None and principal.role == "resident":
            near = (await earning.resident(principal.resident_id))["station_id"]
        elif near is None and principal.role == "organizer":
            near = principal.station_id
        station = await station_of(earning, near) if near is not None else None
        if station is not None and station.realm != realm:
            raise resource_errors.InvalidResource(f"station {near} is not of realm {realm}")
        page = await resources.near(realm, station, kind, mine["id"] if mine else None, cursor, limit)
        return ItemsPage([resource_out(row, near=station is not None) for row in page.items], page.next_cursor)

    @get("/{resource_id:int}", responses=problems(resource_errors.ResourceNotFound))
    async def read_resource(self, resources: Service[Resources], principal: Caller,
                            resource_id: FromPath[int]) -> ResourceOut:
        return resource_out(await visible_resource(resources, principal, resource_id))

    @post("/{resource_id:int}/slots", status_code=201, guards=[roles("admin", "merchant")],
          responses=problems(SLOT_WRITE))
    async def add_slot(self, resources: Service[Resources], principal: Caller, resource_id: FromPath[int],
                       data: JSONBody[SlotIn], idempotency_key: IdempotencyKey = None) -> Response[SlotOut]:
        """One slot. Idempotent by nature (one slot per start): the same slot asked again
        answers it again; the Idempotency-Key is checked, not needed to find it."""
        required_idempotency_key(idempotency_key)
        resource = await slot_of_provider(resources, principal, resource_id)
        starts, ends = parse_timestamp(data.starts_at), parse_timestamp(data.ends_at)
        made = await resources.add_slots(resource, [starts], ends - starts, data.capacity, data.priority_places)
        return replayable(slot_out(made[0]), made[0]["replayed"])

    @post("/{resource_id:int}/slots/weekly", status_code=201, guards=[roles("admin", "merchant")],
          responses=problems(SLOT_WRITE, resource_errors.InvalidPattern))
    async def add_weekly_slots(self, resources: Service[Resources], principal: Caller, resource_id: FromPath[int],
                               data: JSONBody[WeeklySlotsIn],
                               idempotency_key: IdempotencyKey = None) -> Response[ItemsPage[SlotOut]]:
        """A slot at the same local time each week, all or none (idempotent as one slot)."""
        required_idempotency_key(idempotency_key)
        resource = await slot_of_provider(resources, principal, resource_id)
        if not 1 <= data.duration_min <= model.SLOT_LENGTH_H_MAX * 60:
            raise resource_errors.InvalidPattern(f"duration_min is 1 to {model.SLOT_LENGTH_H_MAX * 60}")
        starts = await resources.weekly_starts(resource, parse_timestamp(data.first_starts_at), data.weeks)
        made = await resources.add_slots(resource, starts, timedelta(minutes=data.duration_min), data.capacity,
                                         data.priority_places)
        return replayable(ItemsPage([slot_out(row) for row in made], None), all(row["replayed"] for row in made))

    @post("/{resource_id:int}/slots/{slot_id:int}/cancel", status_code=200, guards=[roles("admin", "merchant")],
          responses=problems(resource_errors.ResourceNotFound, resource_errors.ProviderNotFound,
                             resource_errors.SlotNotFound))
    async def cancel_slot(self, resources: Service[Resources], principal: Caller, resource_id: FromPath[int],
                          slot_id: FromPath[int], idempotency_key: IdempotencyKey = None) -> SlotOut:
        """The provider cancels a slot: no new booking, every booking cancelled and its
        priority points released (`released` says how many). Repeating it does no more."""
        required_idempotency_key(idempotency_key)
        await slot_of_provider(resources, principal, resource_id)
        slot = await resources.slot(slot_id)
        if slot["resource_id"] != resource_id:
            raise resource_errors.SlotNotFound(f"resource {resource_id} has no slot {slot_id}")
        return slot_out(await resources.cancel_slot(slot, principal.actor))

    @get("/{resource_id:int}/slots", responses=problems(PAGING, resource_errors.ResourceNotFound))
    async def list_slots(self, resources: Service[Resources], principal: Caller, resource_id: FromPath[int],
                         cursor: FromQuery[str | None] = None,
                         limit: FromQuery[int | None] = None) -> ItemsPage[SlotOut]:
        """The resource's slots to come, with their free places."""
        resource = await visible_resource(resources, principal, resource_id)
        page = await resources.slots(resource, cursor, limit)
        return ItemsPage([slot_out(row) for row in page.items], page.next_cursor)


class ReservationsController(Controller):
    path = "/v1/reservations"
    tags = ["resources"]

    @post(status_code=201, guards=[roles("resident", "organizer", "admin")], responses=problems(BOOK))
    async def book(self, resources: Service[Resources], earning: Service[Earning], principal: Caller,
                   data: JSONBody[ReservationIn], idempotency_key: IdempotencyKey = None) -> Response[ReservationOut]:
        """A place in a slot (priority: its price in points held until the provider marks
        it), or `slot_full`. A far resource still books; `alternatives` lists local or
        online ones of the same kind with a free place that week."""
        key = required_idempotency_key(idempotency_key)
        booker = await booker_for(earning, principal, data)
        booked = await resources.book(data.slot_id, booker, data.priority, key, principal.actor)
        return replayable(reservation_out(booked), booked["replayed"])

    @get(responses=problems(PAGING, earning_errors.ResidentNotFound))
    async def list_reservations(self, resources: Service[Resources], earning: Service[Earning], principal: Caller,
                                realm: FromQuery[str], resident_id: FromQuery[int | None] = None,
                                station_id: FromQuery[int | None] = None, day: FromQuery[str | None] = None,
                                cursor: FromQuery[str | None] = None,
                                limit: FromQuery[int | None] = None) -> ItemsPage[ReservationOut]:
        """Bookings in the caller's scope, newest first; `day` (YYYY-MM-DD, the realm's
        time zone) keeps the slots of that day (a provider's list for today)."""
        principal.require_realm(realm)
        scope = await list_scope(resources, earning, principal, realm, resident_id, station_id)
        span = await resources.day_of(realm, parse_day(day)) if day is not None else None
        page = await resources.reservations(scope, span, cursor, limit)
        return ItemsPage([reservation_out(row) for row in page.items], page.next_cursor)

    @get("/{reservation_id:int}", responses=problems(resource_errors.ReservationNotFound))
    async def read_reservation(self, resources: Service[Resources], principal: Caller,
                               reservation_id: FromPath[int]) -> ReservationOut:
        return reservation_out(check_reader(principal, await resources.reservation(reservation_id)))

    @post("/{reservation_id:int}/cancel", status_code=200,
          guards=[roles("resident", "organizer", "admin", "merchant")],
          responses=problems(CLOSE, resource_errors.CancelCutoffPassed))
    async def cancel_reservation(self, resources: Service[Resources], principal: Caller,
                                 reservation_id: FromPath[int],
                                 idempotency_key: IdempotencyKey = None) -> Response[ReservationOut]:
        """The booker before the cut-off; the provider at any time (points released)."""
        required_idempotency_key(idempotency_key)
        found = check_reader(principal, await resources.reservation(reservation_id))
        by_provider = principal.role == "merchant" or (principal.role == "admin"
                                                       and principal.realm in (None, found["realm"]))
        if by_provider:
            check_provider_side(principal, found)
        closed = await resources.cancel(reservation_id, by_provider, principal.actor)
        return replayable(reservation_out(closed), closed["replayed"], 200)

    @post("/{reservation_id:int}/attended", status_code=200, guards=[roles("merchant", "admin")],
          responses=problems(MARK))
    async def mark_attended(self, resources: Service[Resources], principal: Caller, reservation_id: FromPath[int],
                            idempotency_key: IdempotencyKey = None) -> Response[ReservationOut]:
        """The provider: it came (priority points paid to the provider)."""
        required_idempotency_key(idempotency_key)
        return await marked(resources, principal, reservation_id, "attended")

    @post("/{reservation_id:int}/no-show", status_code=200, guards=[roles("merchant", "admin")],
          responses=problems(MARK))
    async def mark_no_show(self, resources: Service[Resources], principal: Caller, reservation_id: FromPath[int],
                           idempotency_key: IdempotencyKey = None) -> Response[ReservationOut]:
        """The provider: nobody came (priority points forfeited if the policy says so, else returned)."""
        required_idempotency_key(idempotency_key)
        return await marked(resources, principal, reservation_id, "no_show")


async def marked(resources: Resources, principal: Principal, reservation_id: int,
                 outcome: str) -> Response[ReservationOut]:
    check_provider_side(principal, await resources.reservation(reservation_id))
    closed = await resources.mark(reservation_id, outcome, principal.actor)
    return replayable(reservation_out(closed), closed["replayed"], 200)


async def list_scope(resources: Resources, earning: Earning, principal: Principal, realm: str,
                     resident_id: int | None, station_id: int | None) -> dict[str, Any]:
    """Which reservations a list shows: a provider's own, a resident's own, a station's
    (an organizer's, or one asked for), or the realm's (admins and auditors)."""
    mine = await own_provider(resources, principal)
    if mine is not None:
        if mine["realm"] != realm:
            raise errors.Forbidden("a provider lists the bookings of its own realm")
        return {"kind": "provider", "realm": realm, "owner": mine["id"]}
    if principal.role == "resident" or resident_id is not None:
        target = principal.resident_id if principal.role == "resident" and resident_id is None else resident_id
        await check_resident_scope(earning, principal, realm, target, named=True)  # type: ignore[arg-type]
        return {"kind": "resident", "realm": realm, "owner": target}
    principal.require_role("organizer", "admin", "auditor")
    station = station_id if station_id is not None else principal.station_id
    if station is not None:
        principal.require_station(realm, station)
        return {"kind": "station", "realm": realm, "owner": station}
    return {"kind": "realm", "realm": realm}


def parse_day(day: str) -> date:
    try:
        return date.fromisoformat(day)
    except ValueError:
        raise errors.InvalidInput("day is YYYY-MM-DD") from None


ROUTES = [ProvidersController, ResourcesController, ReservationsController]
