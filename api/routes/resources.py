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
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.auth import Principal
from api.routes.common import (REPLAYED_HEADER, Caller, IdempotencyKey, parse_timestamp,
                               require_resident_scope, required_idempotency_key, services)
from ledger import errors
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


class ProvidersOut(msgspec.Struct):
    items: list[ProviderOut]
    next_cursor: str | None


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


class ResourcesOut(msgspec.Struct):
    items: list[ResourceOut]
    next_cursor: str | None


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
    released: int | None = None             # (a cancel's answer) bookings it cancelled, points released


class SlotsOut(msgspec.Struct):
    items: list[SlotOut]
    next_cursor: str | None


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
    station_id: int | None = None
    hold_entry_id: int | None = None
    close_entry_id: int | None = None
    closed_at: datetime | None = None
    alternatives: list[AlternativeOut] = []


class ReservationsOut(msgspec.Struct):
    items: list[ReservationOut]
    next_cursor: str | None


# shapes ------------------------------------------------------------------------------------

def shaped(struct: type, row: dict[str, Any], **extra: Any) -> Any:
    return msgspec.convert({**{k: v for k, v in row.items() if k in struct.__struct_fields__}, **extra}, struct)


def resource_out(row: dict[str, Any], near: bool = False) -> ResourceOut:
    """`near`: the row was ranked from a station, so its `rank` says where it is from there."""
    return shaped(ResourceOut, row, place=model.PLACE_NAMES[row["rank"]] if near else None)


def slot_out(row: dict[str, Any]) -> SlotOut:
    view = model.SlotView(row["starts_at"], row["capacity"], row["priority_places"], row["booked"],
                          row["priority_booked"], 0, 0, None)
    open_places = row["cancelled_at"] is None
    return shaped(SlotOut, row, free_places=model.free_places(view, False) if open_places else 0,
                  free_priority_places=model.free_places(view, True) if open_places else 0)


def reservation_out(row: dict[str, Any]) -> ReservationOut:
    alternatives = [shaped(AlternativeOut, a, place=model.PLACE_NAMES[a["rank"]]) for a in row.get("alternatives", [])]
    return shaped(ReservationOut, row, cancel_until=row["starts_at"] - timedelta(hours=row["cancel_cutoff_h"]),
                  alternatives=alternatives)


def answered(body: Any, replayed: bool, status_code: int) -> Response[Any]:
    return Response(body, status_code=status_code, headers={REPLAYED_HEADER: "true"} if replayed else {})


def resources_of(request: Request) -> Resources:
    return services(request).resources


# scope -------------------------------------------------------------------------------------

async def provider_for(request: Request, principal: Principal, provider_id: int) -> dict[str, Any]:
    """A provider the caller may act for: an admin of its realm, or its own merchant token."""
    provider = await resources_of(request).provider(provider_id)
    principal.require(provider["realm"], "admin", "merchant")
    if principal.role == "merchant" and principal.merchant_id != provider["merchant_id"]:
        raise errors.Forbidden("a merchant token acts only for its own provider")
    return provider


async def own_provider(request: Request, principal: Principal) -> dict[str, Any] | None:
    """The provider a merchant token is (None for other roles; a merchant that is no
    provider is refused)."""
    if principal.role != "merchant":
        return None
    provider = await resources_of(request).provider_of_merchant(principal.merchant_id)
    if provider is None:
        raise errors.Forbidden("this merchant is not a resource provider")
    return provider


async def station_of(request: Request, station_id: int) -> model.Station:
    station = await services(request).earning.station(station_id)
    return model.Station(station["realm"], station["id"], station["town_id"])


async def booker_for(request: Request, principal: Principal, body: ReservationIn) -> Booker:
    """Who books, within the caller's scope: a resident itself; an organizer's station or
    a resident in its scope; an admin's realm."""
    principal.require_role("resident", "organizer", "admin")
    if (body.station_id is None) == (body.resident_id is None) and principal.role != "resident":
        raise resource_errors.InvalidBooking("name one of station_id or resident_id")
    if principal.role == "resident" or body.resident_id is not None:
        if principal.role == "resident" and (body.station_id is not None
                                             or body.resident_id not in (None, principal.resident_id)):
            raise errors.Forbidden("a resident books only for itself")
        resident = await services(request).earning.resident(body.resident_id or principal.resident_id)
        await require_resident_scope(request, principal, resident["realm"], resident["id"], named=True)
        return Booker(resident["realm"], await station_of(request, resident["station_id"]), resident["id"])
    station = await station_of(request, body.station_id)  # type: ignore[arg-type]
    principal.require_station(station.realm, station.id)
    return Booker(station.realm, station)


async def readable_reservation(request: Request, principal: Principal, reservation_id: int) -> dict[str, Any]:
    found = await resources_of(request).reservation(reservation_id)
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


async def provider_side(request: Request, principal: Principal, found: dict[str, Any]) -> None:
    """The provider of this reservation: its merchant token, or an admin of its realm."""
    principal.require_role("merchant", "admin")
    if principal.role == "merchant" and principal.merchant_id != found["merchant_id"]:
        raise resource_errors.OtherProvider("this reservation is another provider's")
    principal.require_realm(found["realm"])


# controllers -------------------------------------------------------------------------------

class ProvidersController(Controller):
    path = "/v1/resource-providers"
    tags = ["resources"]

    @post("", status_code=201)
    async def register(self, request: Request, principal: Caller, data: JSONBody[ProviderIn],
                       idempotency_key: IdempotencyKey = None) -> Response[ProviderOut]:
        """A provider (a retry with the same Idempotency-Key answers it again)."""
        key = required_idempotency_key(idempotency_key)
        principal.require(data.realm, "admin")
        merchant = model.Provider(None, None, None)
        if data.merchant_id is not None:
            found = await services(request).merchants.get(data.merchant_id)
            merchant = model.Provider(found["id"], found["kind"], found["realm"])
        made = await resources_of(request).register_provider(data.realm, data.name, merchant, principal.actor, key)
        return answered(shaped(ProviderOut, made), made["replayed"], 201)

    @get("")
    async def listed(self, request: Request, principal: Caller, realm: FromQuery[str],
                     cursor: FromQuery[str | None] = None, limit: FromQuery[int | None] = None) -> ProvidersOut:
        principal.require(realm, "admin", "organizer", "auditor", "merchant")
        mine = await own_provider(request, principal)
        if mine is not None:
            return ProvidersOut(items=[shaped(ProviderOut, mine)] if mine["realm"] == realm else [], next_cursor=None)
        page = await resources_of(request).providers(realm, cursor, limit)
        return ProvidersOut(items=[shaped(ProviderOut, row) for row in page.items], next_cursor=page.next_cursor)

    @get("/mine")
    async def mine(self, request: Request, principal: Caller) -> ProviderOut:
        principal.require_role("merchant")
        return shaped(ProviderOut, await own_provider(request, principal))


class ResourcesController(Controller):
    path = "/v1/resources"
    tags = ["resources"]

    @post("", status_code=201)
    async def create(self, request: Request, principal: Caller, data: JSONBody[ResourceIn],
                     idempotency_key: IdempotencyKey = None) -> Response[ResourceOut]:
        """A resource (a retry with the same Idempotency-Key answers it again)."""
        key = required_idempotency_key(idempotency_key)
        provider = await provider_for(request, principal, data.provider_id)
        fields = msgspec.structs.asdict(data)
        made = await resources_of(request).create_resource(provider, fields, principal.actor, key)
        return answered(resource_out(made), made["replayed"], 201)

    @get("")
    async def listed(self, request: Request, principal: Caller, realm: FromQuery[str],
                     near: FromQuery[int | None] = None, kind: FromQuery[str | None] = None,
                     cursor: FromQuery[str | None] = None, limit: FromQuery[int | None] = None) -> ResourcesOut:
        """What `realm` may book (its own and shared resources): with `near` (a station;
        a resident's own by default) the same station first, then the same town, online,
        the rest. A merchant lists only its own."""
        principal.require_realm(realm)
        mine = await own_provider(request, principal)
        if near is None and principal.role == "resident":
            near = (await services(request).earning.resident(principal.resident_id))["station_id"]
        elif near is None and principal.role == "organizer":
            near = principal.station_id
        station = await station_of(request, near) if near is not None else None
        if station is not None and station.realm != realm:
            raise resource_errors.InvalidResource(f"station {near} is not of realm {realm}")
        page = await resources_of(request).near(realm, station, kind, mine["id"] if mine else None, cursor, limit)
        items = [resource_out(row, near=station is not None) for row in page.items]
        return ResourcesOut(items=items, next_cursor=page.next_cursor)

    @get("/{resource_id:int}")
    async def read(self, request: Request, principal: Caller, resource_id: FromPath[int]) -> ResourceOut:
        return resource_out(await visible_resource(request, principal, resource_id))

    @post("/{resource_id:int}/slots", status_code=201)
    async def add_slot(self, request: Request, principal: Caller, resource_id: FromPath[int],
                       data: JSONBody[SlotIn], idempotency_key: IdempotencyKey = None) -> Response[SlotOut]:
        """One slot. Idempotent by nature (one slot per start): the same slot asked again
        answers it again; the Idempotency-Key is checked, not needed."""
        required_idempotency_key(idempotency_key)
        resource = await resources_of(request).resource(resource_id)
        await provider_for(request, principal, resource["provider_id"])
        starts, ends = parse_timestamp(data.starts_at), parse_timestamp(data.ends_at)
        made = await resources_of(request).add_slots(resource, [starts], ends - starts, data.capacity,
                                                     data.priority_places)
        return answered(slot_out(made[0]), made[0]["replayed"], 201)

    @post("/{resource_id:int}/slots/weekly", status_code=201)
    async def add_weekly(self, request: Request, principal: Caller, resource_id: FromPath[int],
                         data: JSONBody[WeeklySlotsIn], idempotency_key: IdempotencyKey = None) -> Response[SlotsOut]:
        """A slot at the same local time each week, all or none (idempotent as one slot)."""
        required_idempotency_key(idempotency_key)
        resource = await resources_of(request).resource(resource_id)
        await provider_for(request, principal, resource["provider_id"])
        if not 1 <= data.duration_min <= model.SLOT_LENGTH_H_MAX * 60:
            raise resource_errors.InvalidPattern(f"duration_min is 1 to {model.SLOT_LENGTH_H_MAX * 60}")
        starts = await resources_of(request).weekly_starts(resource, parse_timestamp(data.first_starts_at), data.weeks)
        made = await resources_of(request).add_slots(resource, starts, timedelta(minutes=data.duration_min),
                                                     data.capacity, data.priority_places)
        return answered(SlotsOut(items=[slot_out(row) for row in made], next_cursor=None),
                        all(row["replayed"] for row in made), 201)

    @post("/{resource_id:int}/slots/{slot_id:int}/cancel", status_code=200)
    async def cancel_slot(self, request: Request, principal: Caller, resource_id: FromPath[int],
                          slot_id: FromPath[int], idempotency_key: IdempotencyKey = None) -> SlotOut:
        """The provider cancels a slot: no new booking, every booking cancelled and its
        priority points released (`released` says how many). Repeating it does no more."""
        required_idempotency_key(idempotency_key)
        resource = await resources_of(request).resource(resource_id)
        await provider_for(request, principal, resource["provider_id"])
        slot = await resources_of(request).slot(slot_id)
        if slot["resource_id"] != resource_id:
            raise resource_errors.SlotNotFound(f"resource {resource_id} has no slot {slot_id}")
        return slot_out(await resources_of(request).cancel_slot(slot, principal.actor))

    @get("/{resource_id:int}/slots")
    async def slots(self, request: Request, principal: Caller, resource_id: FromPath[int],
                    cursor: FromQuery[str | None] = None, limit: FromQuery[int | None] = None) -> SlotsOut:
        """The resource's slots to come, with their free places."""
        resource = await visible_resource(request, principal, resource_id)
        page = await resources_of(request).slots(resource, cursor, limit)
        return SlotsOut(items=[slot_out(row) for row in page.items], next_cursor=page.next_cursor)


async def visible_resource(request: Request, principal: Principal, resource_id: int) -> dict[str, Any]:
    resource = await resources_of(request).resource(resource_id)
    if principal.role == "merchant":
        if principal.merchant_id != resource["merchant_id"]:
            raise errors.Forbidden("a merchant sees only its own resources")
    elif resource["scope"] != "shared":
        principal.require_realm(resource["realm"])
    return resource


class ReservationsController(Controller):
    path = "/v1/reservations"
    tags = ["resources"]

    @post("", status_code=201)
    async def book(self, request: Request, principal: Caller, data: JSONBody[ReservationIn],
                   idempotency_key: IdempotencyKey = None) -> Response[ReservationOut]:
        """A place in a slot (priority: its price in points held until the provider marks
        it), or `slot_full`. A far resource still books; `alternatives` lists local or
        online ones of the same kind with a free place that week."""
        key = required_idempotency_key(idempotency_key)
        booker = await booker_for(request, principal, data)
        booked = await resources_of(request).book(data.slot_id, booker, data.priority, key, principal.actor)
        return answered(reservation_out(booked), booked["replayed"], 201)

    @get("")
    async def listed(self, request: Request, principal: Caller, realm: FromQuery[str],
                     resident_id: FromQuery[int | None] = None, station_id: FromQuery[int | None] = None,
                     day: FromQuery[str | None] = None, cursor: FromQuery[str | None] = None,
                     limit: FromQuery[int | None] = None) -> ReservationsOut:
        """Bookings in the caller's scope, newest first; `day` (YYYY-MM-DD, the realm's
        time zone) keeps the slots of that day (a provider's list for today)."""
        principal.require_realm(realm)
        scope = await list_scope(request, principal, realm, resident_id, station_id)
        span = await resources_of(request).day_of(realm, parse_day(day)) if day is not None else None
        page = await resources_of(request).reservations(scope, span, cursor, limit)
        return ReservationsOut(items=[reservation_out(row) for row in page.items], next_cursor=page.next_cursor)

    @get("/{reservation_id:int}")
    async def read(self, request: Request, principal: Caller, reservation_id: FromPath[int]) -> ReservationOut:
        return reservation_out(await readable_reservation(request, principal, reservation_id))

    @post("/{reservation_id:int}/cancel", status_code=200)
    async def cancel(self, request: Request, principal: Caller, reservation_id: FromPath[int],
                     idempotency_key: IdempotencyKey = None) -> Response[ReservationOut]:
        """The booker before the cut-off; the provider at any time (points released)."""
        required_idempotency_key(idempotency_key)
        found = await readable_reservation(request, principal, reservation_id)
        by_provider = principal.role == "merchant" or (principal.role == "admin"
                                                       and principal.realm in (None, found["realm"]))
        if by_provider:
            await provider_side(request, principal, found)
        else:
            principal.require_role("resident", "organizer", "admin")
        closed = await resources_of(request).cancel(reservation_id, by_provider, principal.actor)
        return answered(reservation_out(closed), closed["replayed"], 200)

    @post("/{reservation_id:int}/attended", status_code=200)
    async def attended(self, request: Request, principal: Caller, reservation_id: FromPath[int],
                       idempotency_key: IdempotencyKey = None) -> Response[ReservationOut]:
        return await self._mark(request, principal, reservation_id, "attended", idempotency_key)

    @post("/{reservation_id:int}/no-show", status_code=200)
    async def no_show(self, request: Request, principal: Caller, reservation_id: FromPath[int],
                      idempotency_key: IdempotencyKey = None) -> Response[ReservationOut]:
        return await self._mark(request, principal, reservation_id, "no_show", idempotency_key)

    @staticmethod
    async def _mark(request: Request, principal: Principal, reservation_id: int, outcome: str,
                    idempotency_key: str | None) -> Response[ReservationOut]:
        required_idempotency_key(idempotency_key)
        found = await resources_of(request).reservation(reservation_id)
        await provider_side(request, principal, found)
        marked = await resources_of(request).mark(reservation_id, outcome, principal.actor)
        return answered(reservation_out(marked), marked["replayed"], 200)


async def list_scope(request: Request, principal: Principal, realm: str, resident_id: int | None,
                     station_id: int | None) -> dict[str, Any]:
    """Which reservations a list shows: a provider's own, a resident's own, a station's
    (an organizer's, or one asked for), or the realm's (admins and auditors)."""
    mine = await own_provider(request, principal)
    if mine is not None:
        if mine["realm"] != realm:
            raise errors.Forbidden("a provider lists the bookings of its own realm")
        return {"kind": "provider", "realm": realm, "owner": mine["id"]}
    if principal.role == "resident" or resident_id is not None:
        target = principal.resident_id if principal.role == "resident" and resident_id is None else resident_id
        await require_resident_scope(request, principal, realm, target, named=True)  # type: ignore[arg-type]
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
