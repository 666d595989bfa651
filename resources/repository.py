"""SQL for providers, resources, slots and reservations; every function runs in the
caller's connection (and transaction)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from resources.model import RANK_SPAN   # a `near` list's cursor is rank * RANK_SPAN + id


def _one(result: Any) -> dict[str, Any] | None:
    row = result.first()
    return dict(row._mapping) if row is not None else None


def _all(result: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in result]


# providers ---------------------------------------------------------------------------------

PROVIDER_COLUMNS = "p.realm, p.id, p.name, p.merchant_id, p.created_at"


async def insert_provider(conn: AsyncConnection, realm: str, name: str, merchant_id: int | None,
                          actor: str, key: str | None, fingerprint: bytes) -> dict[str, Any]:
    return _one(await conn.execute(text(
        "INSERT INTO resource_providers AS p (realm, name, merchant_id, created_by, idempotency_key, request_hash) "
        f"VALUES (:realm, :name, :merchant_id, :actor, :key, :hash) RETURNING {PROVIDER_COLUMNS}"),
        {"realm": realm, "name": name, "merchant_id": merchant_id, "actor": actor, "key": key,
         "hash": fingerprint}))  # type: ignore[return-value]


KEYED = {table: text(f"SELECT id, request_hash FROM {table} WHERE realm = :realm AND idempotency_key = :key")
         for table in ("resource_providers", "resources")}


async def keyed(conn: AsyncConnection, table: str, realm: str, key: str) -> dict[str, Any] | None:
    """The provider or resource (`table`) an earlier request with this key made: id and request hash."""
    return _one(await conn.execute(KEYED[table], {"realm": realm, "key": key}))


async def find_provider(conn: AsyncConnection, provider_id: int) -> dict[str, Any] | None:
    return _one(await conn.execute(text(
        f"SELECT {PROVIDER_COLUMNS} FROM resource_providers p WHERE p.id = :id"), {"id": provider_id}))


async def provider_of_merchant(conn: AsyncConnection, merchant_id: int) -> dict[str, Any] | None:
    return _one(await conn.execute(text(
        f"SELECT {PROVIDER_COLUMNS} FROM resource_providers p WHERE p.merchant_id = :merchant_id"),
        {"merchant_id": merchant_id}))


async def providers_page(conn: AsyncConnection, realm: str, after_id: int, limit: int) -> list[dict[str, Any]]:
    return _all(await conn.execute(text(
        f"SELECT {PROVIDER_COLUMNS} FROM resource_providers p WHERE p.realm = :realm AND p.id > :after "
        "ORDER BY p.id LIMIT :limit"), {"realm": realm, "after": after_id, "limit": limit}))


# resources ---------------------------------------------------------------------------------

RESOURCE_COLUMNS = """r.realm, r.id, r.provider_id, pr.name AS provider_name, pr.merchant_id,
    r.kind, r.title, r.description, r.scope, r.station_id, r.town_id, r.online,
    st.name AS station_name, coalesce(r.town_id, st.town_id) AS place_town_id,
    r.priority_price, r.priority_places, r.priority_early_h, r.booking_opens_h, r.cancel_cutoff_h,
    r.no_show_forfeit, r.created_at"""
RESOURCE_FROM = """resources r
    JOIN resource_providers pr ON pr.realm = r.realm AND pr.id = r.provider_id
    LEFT JOIN stations st ON st.realm = r.realm AND st.id = r.station_id"""
RANK_SQL = """CASE WHEN r.realm = :near_realm AND r.station_id = :near_station THEN 0
                   WHEN r.realm = :near_realm AND coalesce(r.town_id, st.town_id) = :near_town THEN 1
                   WHEN r.online THEN 2 ELSE 3 END"""

RESOURCE_FIELDS = ("provider_id", "kind", "title", "description", "scope", "station_id", "town_id", "online",
                   "priority_price", "priority_places", "priority_early_h", "booking_opens_h",
                   "cancel_cutoff_h", "no_show_forfeit")


async def insert_resource(conn: AsyncConnection, realm: str, fields: dict[str, Any], actor: str,
                          key: str | None, fingerprint: bytes) -> int:
    names = ", ".join(RESOURCE_FIELDS)
    values = ", ".join(f":{name}" for name in RESOURCE_FIELDS)
    return (await conn.execute(text(
        f"INSERT INTO resources (realm, {names}, created_by, idempotency_key, request_hash) "
        f"VALUES (:realm, {values}, :actor, :key, :hash) RETURNING id"),
        {"realm": realm, "actor": actor, "key": key, "hash": fingerprint,
         **{name: fields.get(name) for name in RESOURCE_FIELDS}})).scalar_one()


async def place_known(conn: AsyncConnection, realm: str, station_id: int | None, town_id: int | None) -> bool:
    """The resource's station or town is one of its realm's (online: nothing to look up)."""
    if station_id is not None:
        query, key = "SELECT EXISTS (SELECT 1 FROM stations WHERE realm = :realm AND id = :id)", station_id
    elif town_id is not None:
        query, key = "SELECT EXISTS (SELECT 1 FROM towns WHERE realm = :realm AND id = :id)", town_id
    else:
        return True
    return (await conn.execute(text(query), {"realm": realm, "id": key})).scalar_one()


async def find_resource(conn: AsyncConnection, resource_id: int) -> dict[str, Any] | None:
    return _one(await conn.execute(text(
        f"SELECT {RESOURCE_COLUMNS} FROM {RESOURCE_FROM} WHERE r.id = :id"), {"id": resource_id}))


async def resources_near(conn: AsyncConnection, realm: str, near: dict[str, Any] | None, kind: str | None,
                         provider_id: int | None, after: int, limit: int) -> list[dict[str, Any]]:
    """Resources a booker of `realm` may book (its realm's, and every shared one), nearest
    first from the station `near` ({realm, id, town_id}; None: by id), after the cursor."""
    rank = RANK_SQL if near is not None else "0"
    query = text(f"""
        SELECT * FROM (SELECT {RESOURCE_COLUMNS}, {rank} AS rank FROM {RESOURCE_FROM}
                        WHERE (r.realm = :realm OR r.scope = 'shared')
                          AND (CAST(:kind AS text) IS NULL OR r.kind = :kind)
                          AND (CAST(:provider AS bigint) IS NULL OR r.provider_id = :provider)) ranked
         WHERE ranked.rank * {RANK_SPAN} + ranked.id > :after
         ORDER BY ranked.rank, ranked.id LIMIT :limit""")
    near = near or {}
    return _all(await conn.execute(query, {
        "realm": realm, "kind": kind, "provider": provider_id, "after": after, "limit": limit,
        "near_realm": near.get("realm"), "near_station": near.get("id"), "near_town": near.get("town_id")}))


async def alternatives(conn: AsyncConnection, booker_realm: str, near: dict[str, Any], kind: str,
                       week: tuple[datetime, datetime], now: datetime, limit: int) -> list[dict[str, Any]]:
    """Local or online resources of `kind` with a free place in `week`: each with its
    earliest such slot, nearest first."""
    query = text(f"""
        SELECT * FROM (
            SELECT r.id AS resource_id, r.realm, r.title, r.kind, {RANK_SQL} AS rank,
                   slot.id AS slot_id, slot.starts_at, slot.ends_at, slot.capacity - slot.booked AS free_places
              FROM {RESOURCE_FROM}
             CROSS JOIN LATERAL (SELECT s.id, s.starts_at, s.ends_at, s.capacity, s.booked FROM resource_slots s
                                  WHERE s.realm = r.realm AND s.resource_id = r.id
                                    AND s.starts_at >= :week_start AND s.starts_at < :week_end
                                    AND s.starts_at > :now AND s.booked < s.capacity
                                  ORDER BY s.starts_at LIMIT 1) slot
             WHERE (r.realm = :realm OR r.scope = 'shared') AND r.kind = :kind) found
         WHERE found.rank < 3 ORDER BY found.rank, found.starts_at LIMIT :limit""")
    return _all(await conn.execute(query, {
        "realm": booker_realm, "kind": kind, "week_start": week[0], "week_end": week[1], "now": now,
        "limit": limit, "near_realm": near["realm"], "near_station": near["id"], "near_town": near["town_id"]}))


# slots -------------------------------------------------------------------------------------

SLOT_COLUMNS = """s.realm, s.id, s.resource_id, s.starts_at, s.ends_at, s.capacity, s.priority_places,
    s.booked, s.priority_booked, s.cancelled_at, s.created_at"""


async def insert_slot(conn: AsyncConnection, realm: str, resource_id: int, starts_at: datetime,
                      ends_at: datetime, capacity: int, priority_places: int) -> dict[str, Any]:
    return _one(await conn.execute(text(
        "INSERT INTO resource_slots AS s (realm, resource_id, starts_at, ends_at, capacity, priority_places) "
        f"VALUES (:realm, :resource_id, :starts_at, :ends_at, :capacity, :priority_places) RETURNING {SLOT_COLUMNS}"),
        {"realm": realm, "resource_id": resource_id, "starts_at": starts_at, "ends_at": ends_at,
         "capacity": capacity, "priority_places": priority_places}))  # type: ignore[return-value]


async def slots_at(conn: AsyncConnection, realm: str, resource_id: int,
                   starts: list[datetime]) -> list[dict[str, Any]]:
    return _all(await conn.execute(text(
        f"SELECT {SLOT_COLUMNS} FROM resource_slots s WHERE s.realm = :realm AND s.resource_id = :resource_id "
        "AND s.starts_at = ANY(:starts) ORDER BY s.starts_at"),
        {"realm": realm, "resource_id": resource_id, "starts": starts}))


async def cancel_slot(conn: AsyncConnection, realm: str, slot_id: int) -> None:
    """Close the slot to bookings, once (its row lock queues the bookings under way)."""
    await conn.execute(text("UPDATE resource_slots SET cancelled_at = now() "
                            "WHERE realm = :realm AND id = :id AND cancelled_at IS NULL"), {"realm": realm, "id": slot_id})


async def booked_in_slot(conn: AsyncConnection, realm: str, slot_id: int) -> list[int]:
    return list((await conn.execute(text(
        "SELECT id FROM reservations WHERE realm = :realm AND slot_id = :slot AND status = 'booked' ORDER BY id"),
        {"realm": realm, "slot": slot_id})).scalars())


async def find_slot(conn: AsyncConnection, slot_id: int) -> dict[str, Any] | None:
    """The slot with its resource's policy and place."""
    return _one(await conn.execute(text(
        f"SELECT {SLOT_COLUMNS}, r.provider_id, r.kind, r.title, r.scope, r.station_id, r.town_id, r.online, "
        "coalesce(r.town_id, st.town_id) AS place_town_id, pr.merchant_id, r.priority_price, r.priority_early_h, "
        "r.booking_opens_h, r.cancel_cutoff_h, r.no_show_forfeit "
        f"FROM resource_slots s JOIN {RESOURCE_FROM} ON r.realm = s.realm AND r.id = s.resource_id "
        "WHERE s.id = :id"), {"id": slot_id}))


async def slots_page(conn: AsyncConnection, realm: str, resource_id: int, since: datetime,
                     after_id: int, limit: int) -> list[dict[str, Any]]:
    return _all(await conn.execute(text(
        f"SELECT {SLOT_COLUMNS} FROM resource_slots s WHERE s.realm = :realm AND s.resource_id = :resource_id "
        "AND s.starts_at > :since AND s.id > :after ORDER BY s.id LIMIT :limit"),
        {"realm": realm, "resource_id": resource_id, "since": since, "after": after_id, "limit": limit}))


# reservations ------------------------------------------------------------------------------

RESERVATION_COLUMNS = """v.realm, v.id, v.slot_id, v.resource_id, v.provider_id, v.booker_realm,
    v.booker_station_id, v.resident_id, v.station_id, v.priority, v.price, v.asset, v.forfeit_on_no_show,
    v.resident_account_id, v.hold_account_id, v.merchant_account_id, v.hold_entry_id, v.close_entry_id,
    v.status, v.points, v.request_hash, v.created_by, v.created_at, v.closed_by, v.closed_at,
    s.starts_at, s.ends_at, r.title, r.kind, r.cancel_cutoff_h, pr.name AS provider_name, pr.merchant_id,
    rs.display_name AS resident_name, bs.name AS station_name"""
# Who booked, by name: every reader of a reservation may see it (the resident itself, its
# provider and staff; a provider is staff for its own bookings), never another resident.
RESERVATION_FROM = """reservations v
    JOIN resource_slots s ON s.realm = v.realm AND s.id = v.slot_id
    JOIN resources r ON r.realm = v.realm AND r.id = v.resource_id
    JOIN resource_providers pr ON pr.realm = v.realm AND pr.id = v.provider_id
    LEFT JOIN residents rs ON rs.realm = v.booker_realm AND rs.id = v.resident_id
    LEFT JOIN stations bs ON bs.realm = v.booker_realm AND bs.id = v.station_id"""


async def next_reservation_id(conn: AsyncConnection) -> int:
    """A reservation's id before its row exists (its hold entry's reference names it)."""
    return (await conn.execute(text(
        "SELECT nextval(pg_get_serial_sequence('reservations', 'id'))"))).scalar_one()


async def insert_reservation(conn: AsyncConnection, values: dict[str, Any]) -> None:
    names = ", ".join(values)
    params = ", ".join(f":{name}" for name in values)
    await conn.execute(text(
        f"INSERT INTO reservations ({names}) OVERRIDING SYSTEM VALUE VALUES ({params})"), values)


async def find_reservation(conn: AsyncConnection, reservation_id: int,
                           for_update: bool = False) -> dict[str, Any] | None:
    lock = " FOR UPDATE OF v" if for_update else ""
    return _one(await conn.execute(text(
        f"SELECT {RESERVATION_COLUMNS} FROM {RESERVATION_FROM} WHERE v.id = :id{lock}"), {"id": reservation_id}))


async def find_by_key(conn: AsyncConnection, realm: str, actor: str, key: str) -> dict[str, Any] | None:
    return _one(await conn.execute(text(
        f"SELECT {RESERVATION_COLUMNS} FROM {RESERVATION_FROM} "
        "WHERE v.realm = :realm AND v.created_by = :actor AND v.idempotency_key = :key"),
        {"realm": realm, "actor": actor, "key": key}))


async def booked_already(conn: AsyncConnection, realm: str, slot_id: int, booker_realm: str,
                         resident_id: int | None, station_id: int | None) -> bool:
    return (await conn.execute(text(
        "SELECT EXISTS (SELECT 1 FROM reservations v WHERE v.realm = :realm AND v.slot_id = :slot "
        "AND v.booker_realm = :booker_realm AND v.status = 'booked' "
        "AND (v.resident_id = :resident OR v.station_id = :station))"),
        {"realm": realm, "slot": slot_id, "booker_realm": booker_realm, "resident": resident_id,
         "station": station_id})).scalar_one()


async def close_reservation(conn: AsyncConnection, realm: str, reservation_id: int, status: str, points: str,
                            close_entry_id: int | None, actor: str) -> bool:
    """Move a booked reservation to `status`, at most once: the guard on `booked` lets one
    of any number of concurrent closers through (they queue on the row lock)."""
    result = await conn.execute(text(
        "UPDATE reservations SET status = :status, points = :points, close_entry_id = :entry, "
        "closed_by = :actor, closed_at = now() WHERE realm = :realm AND id = :id AND status = 'booked'"),
        {"status": status, "points": points, "entry": close_entry_id, "actor": actor, "realm": realm,
         "id": reservation_id})
    return result.rowcount == 1


async def reservations_page(conn: AsyncConnection, scope: dict[str, Any], day: tuple[datetime, datetime] | None,
                            before_id: int | None, limit: int) -> list[dict[str, Any]]:
    """Reservations in one scope, newest first: `provider` (realm, provider_id), `resident`
    (booker_realm, resident_id), `station` (booker_realm, booker_station_id) or `realm`."""
    where = {
        "provider": "v.realm = :realm AND v.provider_id = :owner",
        "resident": "v.booker_realm = :realm AND v.resident_id = :owner",
        "station": "v.booker_realm = :realm AND v.booker_station_id = :owner",
        "realm": "(v.realm = :realm OR v.booker_realm = :realm)",
    }[scope["kind"]]
    if day is not None:
        where += " AND s.starts_at >= :day_start AND s.starts_at < :day_end"
    if before_id is not None:
        where += " AND v.id < :before"
    return _all(await conn.execute(text(
        f"SELECT {RESERVATION_COLUMNS} FROM {RESERVATION_FROM} WHERE {where} ORDER BY v.id DESC LIMIT :limit"),
        {"realm": scope["realm"], "owner": scope.get("owner"), "before": before_id, "limit": limit,
         "day_start": day[0] if day else None, "day_end": day[1] if day else None}))


async def reservations_by_ids(conn: AsyncConnection, ids: list[int]) -> list[dict[str, Any]]:
    return _all(await conn.execute(text(
        f"SELECT {RESERVATION_COLUMNS} FROM {RESERVATION_FROM} WHERE v.id = ANY(:ids)"), {"ids": ids}))


async def realm_timezone(conn: AsyncConnection, realm: str) -> str | None:
    return (await conn.execute(text("SELECT timezone FROM realms WHERE code = :realm"), {"realm": realm})).scalar()
