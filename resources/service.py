"""Resources and reservations: each call owns one database transaction.

Booking: the reservation row and (priority) its `hold` entry commit together; the row's
trigger takes the place in the slot under the slot's row lock, so concurrent bookings
queue there and the one too many is refused by CHECK (booked <= capacity) (`slot_full`).
Closing (cancel, attended, no-show): the reservation's row is locked first, then the
`capture` or `release` entry is posted and the row leaves `booked` in the same
transaction; a second closer waits for the lock and finds it closed. Lock order is
reservation row, hold account, slot row everywhere (a booking takes no reservation lock),
so closers and bookers never wait for each other in a circle.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time as day_time, timedelta, timezone
from zoneinfo import ZoneInfo
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger import db, errors as ledger_errors, idempotency, model as ledger_model, paging
from ledger import repository as ledger_repository
from ledger.model import EntryDraft, Line
from ledger.paging import Page
from ledger.require import require
from ledger.service import Ledger
from resources import errors, model, repository

db.CONSTRAINT_ERRORS.setdefault("resource_slots_capacity", errors.SlotFull)
db.CONSTRAINT_ERRORS.setdefault("resource_slots_ordinary_places", errors.SlotFull)
db.CONSTRAINT_ERRORS.setdefault("reservations_resident_once", errors.AlreadyBooked)
db.CONSTRAINT_ERRORS.setdefault("reservations_station_once", errors.AlreadyBooked)
db.CONSTRAINT_ERRORS.setdefault("reservations_idempotency_key", errors.BookingKeyRaced)
db.CONSTRAINT_ERRORS.setdefault("reservations_close_entry_once", errors.ReservationClosed)
db.CONSTRAINT_ERRORS.setdefault("resource_providers_merchant_once", errors.ProviderExists)
db.CONSTRAINT_ERRORS.setdefault("resource_slots_start_once", errors.SlotExists)
db.CONSTRAINT_ERRORS.setdefault("resource_providers_idempotency_key", errors.CreateKeyRaced)
db.CONSTRAINT_ERRORS.setdefault("resources_idempotency_key", errors.CreateKeyRaced)


CANCELLED = {"cancelled", "provider_cancelled"}


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Booker:
    """Who books: a station (an organizer for an activity) or a resident, and where it is."""
    realm: str
    station: model.Station
    resident_id: int | None = None

    @property
    def station_id(self) -> int | None:
        return None if self.resident_id is not None else self.station.id


class Resources:
    def __init__(self, engine: AsyncEngine, ledger: Ledger, clock: Callable[[], datetime] = now_utc) -> None:
        self.engine = engine
        self.ledger = ledger
        self.clock = clock

    # providers -------------------------------------------------------------------------

    async def register_provider(self, realm: str, name: str, merchant: model.Provider, actor: str,
                                key: str | None = None) -> dict[str, Any]:
        """A provider; a retry with the same `key` answers it again (flagged `replayed`)."""
        ledger_model.check_realm_code(realm)
        idempotency.check_key(key)
        name = model.check_provider(realm, name, merchant)
        fingerprint = idempotency.request_hash({"op": "provider", "name": name, "merchant_id": merchant.merchant_id})

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            earlier = await self._keyed(conn, "resource_providers", realm, key, fingerprint)
            if earlier is not None:
                return idempotency.replayed(await repository.find_provider(conn, earlier))  # type: ignore[arg-type]
            return idempotency.fresh(await repository.insert_provider(
                conn, realm, name, merchant.merchant_id, actor, key, fingerprint))

        return await idempotency.once(lambda: db.in_transaction(self.engine, work), errors.CreateKeyRaced)

    @staticmethod
    async def _keyed(conn: AsyncConnection, table: str, realm: str, key: str | None,
                     fingerprint: bytes) -> int | None:
        """The id an earlier request with `key` made (None: none), or `idempotency_key_reused`."""
        if key is None:
            return None
        earlier = await repository.keyed(conn, table, realm, key)
        if earlier is None:
            return None
        idempotency.check_same_request(earlier["request_hash"], fingerprint, "another request", id=earlier["id"])
        return earlier["id"]

    async def provider(self, provider_id: int) -> dict[str, Any]:
        found = await db.read(self.engine, lambda conn: repository.find_provider(conn, provider_id))
        if found is None:
            raise errors.ProviderNotFound(f"no provider {provider_id}", provider_id=provider_id)
        return found

    async def provider_of_merchant(self, merchant_id: int | None) -> dict[str, Any] | None:
        if merchant_id is None:
            return None
        return await db.read(self.engine, lambda conn: repository.provider_of_merchant(conn, merchant_id))

    async def providers(self, realm: str, cursor: str | None, limit: int | None) -> Page:
        after, size = model.decode_cursor(cursor, model.PROVIDERS) or 0, paging.check_page_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.providers_page(
            conn, realm, after, paging.fetch_size(size)))
        return paging.page_of(rows, size, model.id_cursor(model.PROVIDERS))

    # resources and slots ---------------------------------------------------------------

    async def create_resource(self, provider: dict[str, Any], fields: dict[str, Any], actor: str,
                              key: str | None = None) -> dict[str, Any]:
        """A resource of `provider`; a retry with the same `key` answers it again."""
        idempotency.check_key(key)
        checked = model.check_resource(fields, provider["merchant_id"] is not None)
        checked["provider_id"] = provider["id"]
        fingerprint = idempotency.request_hash({"op": "resource", **checked})

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            earlier = await self._keyed(conn, "resources", provider["realm"], key, fingerprint)
            if earlier is None and not await repository.place_known(conn, provider["realm"], checked.get("station_id"),
                                                                     checked.get("town_id")):
                raise errors.InvalidResource(f"the station or town is none of realm {provider['realm']}")
            resource_id = earlier or await repository.insert_resource(conn, provider["realm"], checked, actor, key,
                                                                     fingerprint)
            found = await repository.find_resource(conn, resource_id)
            return (idempotency.replayed if earlier else idempotency.fresh)(found)  # type: ignore[arg-type]

        return await idempotency.once(lambda: db.in_transaction(self.engine, work), errors.CreateKeyRaced)

    async def resource(self, resource_id: int) -> dict[str, Any]:
        found = await db.read(self.engine, lambda conn: repository.find_resource(conn, resource_id))
        if found is None:
            raise errors.ResourceNotFound(f"no resource {resource_id}", resource_id=resource_id)
        return found

    async def add_slots(self, resource: dict[str, Any], starts: list[datetime], length: timedelta,
                        capacity: int, priority_places: int) -> list[dict[str, Any]]:
        """Slots of `length` at each start, all or none (`slot_exists` if one is there)."""
        now = self.clock()
        for start in starts:
            model.check_slot(start, start + length, capacity, priority_places, resource["priority_price"], now)

        async def work(conn: AsyncConnection) -> list[dict[str, Any]]:
            return [idempotency.fresh(await repository.insert_slot(  # type: ignore[arg-type]
                conn, resource["realm"], resource["id"], start, start + length, capacity, priority_places))
                for start in starts]

        try:
            return await db.in_transaction(self.engine, work)
        except errors.SlotExists:
            return await self._same_slots(resource, starts, length, capacity, priority_places)

    async def _same_slots(self, resource: dict[str, Any], starts: list[datetime], length: timedelta,
                          capacity: int, priority_places: int) -> list[dict[str, Any]]:
        """A retry: the slots asked for are all there, as asked, so answer them again;
        otherwise one of them clashes with another slot (`slot_exists`)."""
        found = await db.read(self.engine, lambda conn: repository.slots_at(
            conn, resource["realm"], resource["id"], starts))
        same = len(found) == len(starts) and all(
            (s["ends_at"] - s["starts_at"], s["capacity"], s["priority_places"]) == (length, capacity, priority_places)
            for s in found)
        if not same:
            raise errors.SlotExists("the resource already has a slot starting then")
        return [idempotency.replayed(slot) for slot in found]

    async def cancel_slot(self, slot: dict[str, Any], actor: str) -> dict[str, Any]:
        """The provider cancels a slot: closed to bookings first (a booking under way that
        waited for it is refused in SQL), then each booked reservation is cancelled by the
        provider, its priority points released. Safe to repeat."""
        await db.in_transaction(self.engine, lambda conn: repository.cancel_slot(conn, slot["realm"], slot["id"]))
        booked = await db.read(self.engine, lambda conn: repository.booked_in_slot(conn, slot["realm"], slot["id"]))
        for reservation_id in booked:
            await self.cancel(reservation_id, True, actor)
        return {**await self.slot(slot["id"]), "released": len(booked)}

    async def weekly_starts(self, resource: dict[str, Any], first: datetime, weeks: int) -> list[datetime]:
        zone = await db.read(self.engine, lambda conn: repository.realm_timezone(conn, resource["realm"]))
        return model.weekly_starts(first, weeks, zone or ledger_model.DEFAULT_TIMEZONE)

    async def slot(self, slot_id: int) -> dict[str, Any]:
        found = await db.read(self.engine, lambda conn: repository.find_slot(conn, slot_id))
        if found is None:
            raise errors.SlotNotFound(f"no slot {slot_id}", slot_id=slot_id)
        return found

    async def slots(self, resource: dict[str, Any], cursor: str | None, limit: int | None) -> Page:
        after, size = model.decode_cursor(cursor, model.SLOTS) or 0, paging.check_page_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.slots_page(
            conn, resource["realm"], resource["id"], self.clock(), after, paging.fetch_size(size)))
        return paging.page_of(rows, size, model.id_cursor(model.SLOTS))

    async def near(self, realm: str, near: model.Station | None, kind: str | None, provider_id: int | None,
                   cursor: str | None, limit: int | None) -> Page:
        """Resources a booker of `realm` may book: same station, same town, online, the rest."""
        if kind is not None and kind not in model.KINDS:
            raise errors.InvalidResource(f"kind is one of {', '.join(model.KINDS)}")
        after, size = model.decode_cursor(cursor, model.NEAR, minimum=0) or 0, paging.check_page_size(limit)
        place = vars_of(near)
        rows = await db.read(self.engine, lambda conn: repository.resources_near(
            conn, realm, place, kind, provider_id, after, paging.fetch_size(size)))
        return paging.page_of(rows, size, model.near_cursor)

    # booking ---------------------------------------------------------------------------

    async def book(self, slot_id: int, booker: Booker, priority: bool, idempotency_key: str,
                   actor: str) -> dict[str, Any]:
        """A place in the slot (priority: its price held from the resident's points), with
        the local or online alternatives when the resource is far from the booker."""
        idempotency.check_key(idempotency_key)
        if priority and booker.resident_id is None:
            raise errors.InvalidBooking("priority booking is a resident's, paid from its points")
        fingerprint = idempotency.request_hash({"op": "book", "slot_id": slot_id, "resident_id": booker.resident_id,
                                                "station_id": booker.station_id, "priority": priority})

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            slot = await repository.find_slot(conn, slot_id)
            if slot is None:
                raise errors.SlotNotFound(f"no slot {slot_id}", slot_id=slot_id)
            replay = await self._replay(conn, slot["realm"], actor, idempotency_key, fingerprint)
            if replay is not None:
                return replay
            return await self._book_in(conn, slot, booker, priority, idempotency_key, fingerprint, actor)

        booked = await idempotency.once(lambda: db.in_transaction(self.engine, work), errors.BookingKeyRaced)
        return {**booked, "alternatives": await self._alternatives(booked, booker)}

    async def _replay(self, conn: AsyncConnection, realm: str, actor: str, key: str,
                      fingerprint: bytes) -> dict[str, Any] | None:
        found = await repository.find_by_key(conn, realm, actor, key)
        return idempotency.replay(found, fingerprint, "another booking", "reservation_id")

    async def _book_in(self, conn: AsyncConnection, slot: dict[str, Any], booker: Booker, priority: bool,
                       key: str, fingerprint: bytes, actor: str) -> dict[str, Any]:
        realm = slot["realm"]
        if slot["scope"] == "realm" and booker.realm != realm:
            raise errors.ResourceOutOfScope("this resource is for its own realm's stations and residents")
        if priority and booker.realm != realm:
            raise errors.PriorityOtherRealm("priority is paid in the resource's own realm")
        if await repository.booked_already(conn, realm, slot["id"], booker.realm, booker.resident_id,
                                           booker.station_id):
            raise errors.AlreadyBooked("this slot is already booked for them")
        model.check_bookable(slot_view(slot), priority, self.clock())
        reservation_id = await repository.next_reservation_id(conn)
        values: dict[str, Any] = dict(
            realm=realm, id=reservation_id, slot_id=slot["id"], resource_id=slot["resource_id"],
            provider_id=slot["provider_id"], booker_realm=booker.realm, booker_station_id=booker.station.id,
            resident_id=booker.resident_id, station_id=booker.station_id, priority=priority,
            points="held" if priority else "none", idempotency_key=key, request_hash=fingerprint,
            created_by=actor)
        if priority:
            values.update(await self._hold(conn, slot, booker.resident_id, reservation_id, actor))  # type: ignore[arg-type]
        await repository.insert_reservation(conn, values)
        found = await repository.find_reservation(conn, reservation_id)
        require(found is not None, "a reservation just inserted can be read")
        return idempotency.fresh(found)  # type: ignore[arg-type]

    async def _hold(self, conn: AsyncConnection, slot: dict[str, Any], resident_id: int, reservation_id: int,
                    actor: str) -> dict[str, Any]:
        """Hold the priority price: resident -> hold (the ledger's hold, as a voucher's)."""
        realm, asset, price = slot["realm"], model.PRIORITY_ASSET, slot["priority_price"]
        wallet = await ledger_repository.find_owned_account(conn, realm, "resident", asset, resident_id=resident_id)
        if wallet is None or wallet["balance"] < price:
            raise ledger_errors.InsufficientPoints(
                f"priority costs {price} points", balance=wallet["balance"] if wallet else 0, amount=price)
        receiver = await ledger_repository.find_owned_account(conn, realm, "merchant", asset,
                                                              merchant_id=slot["merchant_id"])
        hold = await ledger_repository.find_system_account(conn, realm, "hold", asset)
        require(receiver is not None and hold is not None, "a priced resource's provider and realm can be paid")
        entry = await self.ledger.post_in(conn, EntryDraft(
            realm=realm, kind="hold", created_by=actor, reference=model.reference(reservation_id),
            memo=f"priority booking: {slot['title']}"[:ledger_model.MEMO_LENGTH_MAX],
            lines=(Line(wallet["id"], -price), Line(hold["id"], price))))
        return dict(price=price, asset=asset, forfeit_on_no_show=slot["no_show_forfeit"],
                    resident_account_id=wallet["id"], hold_account_id=hold["id"],
                    merchant_account_id=receiver["id"], hold_entry_id=entry["id"])  # type: ignore[index]

    async def _alternatives(self, booked: dict[str, Any], booker: Booker) -> list[dict[str, Any]]:
        """Local or online resources of the same kind with a free place in the booked
        slot's week, when the booked one is far (none for a local booking)."""
        resource = await self.resource(booked["resource_id"])
        rank = model.place_rank(resource["realm"], resource["station_id"], resource["town_id"],
                                resource["online"], resource["place_town_id"], booker.station)
        if rank != model.ELSEWHERE:
            return []
        zone = await db.read(self.engine, lambda conn: repository.realm_timezone(conn, booker.realm))
        week = model.week_of(booked["starts_at"], zone or ledger_model.DEFAULT_TIMEZONE)
        return await db.read(self.engine, lambda conn: repository.alternatives(
            conn, booker.realm, vars_of(booker.station), resource["kind"], week, self.clock(),
            model.ALTERNATIVES_MAX))

    # closing ---------------------------------------------------------------------------

    async def cancel(self, reservation_id: int, by_provider: bool, actor: str) -> dict[str, Any]:
        """Cancel: the booker before the cut-off, the provider at any time; priority points
        are released to the resident."""
        def outcome(found: dict[str, Any]) -> str:
            return model.check_cancel(found["starts_at"], found["cancel_cutoff_h"], by_provider, self.clock())

        return await self._close(reservation_id, outcome, CANCELLED, actor)

    async def mark(self, reservation_id: int, status: str, actor: str) -> dict[str, Any]:
        """The provider marks attended (points captured) or no-show (captured if the
        policy forfeits them, else released)."""
        def outcome(found: dict[str, Any]) -> str:
            model.check_mark(status, found["starts_at"], self.clock())
            return status

        return await self._close(reservation_id, outcome, {status}, actor)

    async def _close(self, reservation_id: int, outcome: Callable[[dict[str, Any]], str],
                     asked: set[str], actor: str) -> dict[str, Any]:
        """Close once. Finding it closed already with what this call asks (a retry) answers
        it as it is; closed otherwise, `reservation_closed`."""
        async def work(conn: AsyncConnection) -> dict[str, Any]:
            found = await repository.find_reservation(conn, reservation_id, for_update=True)
            if found is None:
                raise errors.ReservationNotFound(f"no reservation {reservation_id}")
            if found["status"] in asked:
                return idempotency.replayed(found)
            if found["status"] != "booked":
                raise errors.ReservationClosed(f"this reservation is already {found['status']}",
                                               status=found["status"])
            status = outcome(found)
            points = model.points_after(status, found["priority"], found["forfeit_on_no_show"])
            entry_id = await self._post_close(conn, found, points, actor) if found["priority"] else None
            closed = await repository.close_reservation(conn, found["realm"], found["id"], status, points,
                                                        entry_id, actor)
            require(closed, "a reservation locked while booked closes")
            after = await repository.find_reservation(conn, reservation_id)
            return idempotency.fresh(after)  # type: ignore[arg-type]

        return await db.in_transaction(self.engine, work)

    async def _post_close(self, conn: AsyncConnection, found: dict[str, Any], points: str, actor: str) -> int:
        """The one entry that ends a priority hold: capture to the provider, or release."""
        receiver = found["merchant_account_id"] if points == "captured" else found["resident_account_id"]
        entry = await self.ledger.post_in(conn, EntryDraft(
            realm=found["realm"], kind="capture" if points == "captured" else "release", created_by=actor,
            reference=model.reference(found["id"]), memo=f"reservation {found['status']}: {found['title']}"[
                :ledger_model.MEMO_LENGTH_MAX],
            lines=(Line(found["hold_account_id"], -found["price"]), Line(receiver, found["price"]))))
        return entry["id"]

    # reading ---------------------------------------------------------------------------

    async def reservation(self, reservation_id: int) -> dict[str, Any]:
        found = await db.read(self.engine, lambda conn: repository.find_reservation(conn, reservation_id))
        if found is None:
            raise errors.ReservationNotFound(f"no reservation {reservation_id}")
        return found

    async def reservations(self, scope: dict[str, Any], day: tuple[datetime, datetime] | None,
                           cursor: str | None, limit: int | None) -> Page:
        before, size = model.decode_cursor(cursor, model.RESERVATIONS), paging.check_page_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.reservations_page(
            conn, scope, day, before, paging.fetch_size(size)))
        return paging.page_of(rows, size, model.id_cursor(model.RESERVATIONS))

    async def by_ids(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        """id -> reservation, for a resident's history."""
        if not ids:
            return {}
        rows = await db.read(self.engine, lambda conn: repository.reservations_by_ids(conn, sorted(set(ids))))
        return {row["id"]: row for row in rows}

    async def day_of(self, realm: str, day: date) -> tuple[datetime, datetime]:
        """A local day of the realm, as a UTC range."""
        zone = ZoneInfo(await db.read(self.engine, lambda conn: repository.realm_timezone(conn, realm))
                        or ledger_model.DEFAULT_TIMEZONE)
        start = datetime.combine(day, day_time(0), zone)
        return start.astimezone(timezone.utc), (start + timedelta(days=1)).astimezone(timezone.utc)


def slot_view(slot: dict[str, Any]) -> model.SlotView:
    return model.SlotView(starts_at=slot["starts_at"], capacity=slot["capacity"],
                          priority_places=slot["priority_places"], booked=slot["booked"],
                          priority_booked=slot["priority_booked"], priority_price=slot["priority_price"],
                          priority_early_h=slot["priority_early_h"], booking_opens_h=slot["booking_opens_h"],
                          cancelled=slot["cancelled_at"] is not None)


def vars_of(station: model.Station | None) -> dict[str, Any] | None:
    return None if station is None else {"realm": station.realm, "id": station.id, "town_id": station.town_id}
