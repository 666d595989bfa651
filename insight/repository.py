"""Insight's SQL: indicator rollups read per level, budget burn, privacy flags, star
thresholds, volunteer hours, recognitions."""
from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from insight import model


def _one(row: Any) -> dict[str, Any] | None:
    return dict(row._mapping) if row is not None else None


def _all(result: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in result]


# What a level groups stations by (never user input: chosen from this table).
PLACE_OF_LEVEL = {"realm": "s.realm", "town": "CAST(s.town_id AS text)", "station": "CAST(s.id AS text)",
                  "setting": "s.setting"}


async def places(conn: AsyncConnection, realm: str, level: str) -> dict[str, str]:
    """Every place of the level in the realm, in a stable order, with its name."""
    if level == "realm":
        name = (await conn.execute(text("SELECT name FROM realms WHERE code = :realm"), {"realm": realm})).scalar()
        return {realm: name or realm}
    if level == "setting":
        return {"urban": "城镇", "rural": "农村"}
    table = "towns" if level == "town" else "stations"
    rows = await conn.execute(text(f"SELECT CAST(id AS text) AS place, name FROM {table} "
                                   "WHERE realm = :realm ORDER BY id"), {"realm": realm})
    return {row.place: row.name for row in rows}


def _metric_sums() -> str:
    """A sum per metric column (names from insight.model.METRICS, never user input)."""
    return ", ".join(f"CAST(sum(r.{metric}) AS bigint) AS {metric}" for metric in model.METRICS)


async def figures(conn: AsyncConnection, realm: str, level: str, first: date, last: date) -> list[dict[str, Any]]:
    """Every metric per place and month, one row each: one range read of the realm's
    rollup rows of those months (key order: realm, month, station, source)."""
    if level in ("realm", "station"):   # no join: the rollup row names its station
        place = "CAST(:realm AS text)" if level == "realm" else "CAST(r.station_id AS text)"
        query = (f"SELECT {place} AS place, r.month, {_metric_sums()} FROM indicator_rollup r "
                 "WHERE r.realm = :realm AND r.month BETWEEN :first AND :last GROUP BY r.station_id, r.month"
                 if level == "station" else
                 f"SELECT {place} AS place, r.month, {_metric_sums()} FROM indicator_rollup r "
                 "WHERE r.realm = :realm AND r.month BETWEEN :first AND :last GROUP BY r.month")
    else:
        query = (f"SELECT {PLACE_OF_LEVEL[level]} AS place, r.month, {_metric_sums()} FROM indicator_rollup r "
                 "JOIN stations s ON s.realm = r.realm AND s.id = r.station_id "
                 "WHERE r.realm = :realm AND r.month BETWEEN :first AND :last GROUP BY 1, 2")
    return _all(await conn.execute(text(query), {"realm": realm, "first": first, "last": last}))


async def registered_before(conn: AsyncConnection, realm: str, level: str, first: date) -> dict[str, int]:
    rows = await conn.execute(text(
        f"SELECT {PLACE_OF_LEVEL[level]} AS place, CAST(sum(r.registered) AS bigint) AS value "
        "FROM indicator_rollup r JOIN stations s ON s.realm = r.realm AND s.id = r.station_id "
        "WHERE r.realm = :realm AND r.source = 'residents' AND r.month < :first GROUP BY 1"),
        {"realm": realm, "first": first})
    return {row.place: row.value for row in rows}


async def budgets(conn: AsyncConnection, realm: str) -> list[dict[str, Any]]:
    return _all(await conn.execute(text(
        "SELECT asset, id AS account_id, balance FROM accounts WHERE realm = :realm AND kind = 'budget' "
        "ORDER BY asset"), {"realm": realm}))


async def balances_before(conn: AsyncConnection, realm: str, moments: list[date]) -> dict[tuple[str, date], int]:
    """Each budget account's balance at the start of each of `moments` (midnight, realm
    time), from its last posting before it: one index probe per account and moment, one
    round trip."""
    rows = await conn.execute(text(
        "SELECT a.asset, m.moment, coalesce(p.balance_after, 0) AS balance "
        "FROM accounts a JOIN realms rl ON rl.code = a.realm CROSS JOIN unnest(CAST(:moments AS date[])) AS m(moment) "
        "LEFT JOIN LATERAL (SELECT p.balance_after FROM postings p WHERE p.realm = a.realm AND p.account_id = a.id "
        "  AND p.created_at < CAST(m.moment AS timestamp) AT TIME ZONE rl.timezone "
        "  ORDER BY p.created_at DESC LIMIT 1) p ON true "
        "WHERE a.realm = :realm AND a.kind = 'budget'"), {"realm": realm, "moments": moments})
    return {(row.asset, row.moment): int(row.balance) for row in rows}


async def monthly_earned(conn: AsyncConnection, realm: str, first: date, last: date) -> dict[tuple[date, str], int]:
    rows = await conn.execute(text(
        "SELECT month, CAST(sum(earned_civic) AS bigint) AS civic, CAST(sum(earned_agri) AS bigint) AS agri "
        "FROM indicator_rollup WHERE realm = :realm AND month BETWEEN :first AND :last GROUP BY 1"),
        {"realm": realm, "first": first, "last": last})
    out: dict[tuple[date, str], int] = {}
    for row in rows:
        out[(row.month, "civic")], out[(row.month, "agri")] = row.civic, row.agri
    return out


async def realms_with_budgets(conn: AsyncConnection) -> list[str]:
    """Realms with a budget left (a probe of each realm's system accounts, never a scan)."""
    return [row[0] for row in await conn.execute(text(
        "SELECT r.code FROM realms r WHERE EXISTS (SELECT 1 FROM accounts a WHERE a.realm = r.code "
        "AND a.kind = 'budget' AND a.balance > 0) ORDER BY r.code"))]


async def emit(conn: AsyncConnection, realm: str, event_type: str, resident_id: int | None,
               payload: dict[str, Any], dedup_key: str | None, subject_id: int | None = None) -> int | None:
    """An event in this transaction (the outbox's SQL call, `notify_emit`)."""
    return (await conn.execute(text(
        "SELECT notify_emit(:realm, :type, :subject, :resident, NULL, CAST(:payload AS jsonb), :dedup)"),
        {"realm": realm, "type": event_type, "subject": subject_id, "resident": resident_id,
         "payload": json.dumps(payload, ensure_ascii=False, default=str), "dedup": dedup_key})).scalar_one()


# privacy ---------------------------------------------------------------------------------

async def set_name_public(conn: AsyncConnection, realm: str, resident_id: int, public: bool) -> None:
    await conn.execute(text("UPDATE residents SET name_public = :public WHERE realm = :realm AND id = :id"),
                       {"realm": realm, "id": resident_id, "public": public})


async def resident(conn: AsyncConnection, resident_id: int) -> dict[str, Any] | None:
    return _one((await conn.execute(text(
        "SELECT realm, id, station_id, code, display_name, name_public FROM residents WHERE id = :id"),
        {"id": resident_id})).first())


async def names(conn: AsyncConnection, realm: str, resident_ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = await conn.execute(text(
        "SELECT id, display_name, name_public FROM residents WHERE realm = :realm AND id = ANY(:ids)"),
        {"realm": realm, "ids": resident_ids})
    return {row.id: {"display_name": row.display_name, "name_public": row.name_public} for row in rows}


# recognition -----------------------------------------------------------------------------

async def thresholds(conn: AsyncConnection, realm: str) -> tuple[int, ...] | None:
    rows = (await conn.execute(text("SELECT hours FROM star_thresholds WHERE realm = :realm ORDER BY level"),
                               {"realm": realm})).scalars().all()
    return tuple(rows) if rows else None


async def set_thresholds(conn: AsyncConnection, realm: str, hours: tuple[int, ...]) -> None:
    await conn.execute(text("DELETE FROM star_thresholds WHERE realm = :realm"), {"realm": realm})
    await conn.execute(text("INSERT INTO star_thresholds (realm, level, hours) VALUES (:realm, :level, :hours)"),
                       [{"realm": realm, "level": level, "hours": h} for level, h in enumerate(hours, start=1)])


async def volunteer_minutes(conn: AsyncConnection, realm: str, resident_id: int) -> int:
    """Cumulative volunteering minutes: volunteering awards (the awards index on resident
    and activity type) and the service requests the resident served and the requester
    confirmed (the `service_requests_volunteer` index)."""
    return int((await conn.execute(text(
        "SELECT (SELECT coalesce(sum(minutes), 0) FROM awards WHERE realm = :realm AND resident_id = :resident "
        "        AND activity_type = 'volunteering') "
        "     + (SELECT coalesce(sum(minutes), 0) FROM service_requests WHERE realm = :realm "
        "        AND volunteer_id = :resident AND state = 'confirmed')"),
        {"realm": realm, "resident": resident_id})).scalar_one())


RECOGNITION_COLUMNS = "g.realm, g.id, g.resident_id, g.year, g.title, g.citation, g.created_by, g.created_at"


async def recognition_by_key(conn: AsyncConnection, realm: str, key: str) -> dict[str, Any] | None:
    return _one((await conn.execute(text(
        f"SELECT {RECOGNITION_COLUMNS}, g.request_hash FROM recognitions g "
        "WHERE g.realm = :realm AND g.idempotency_key = :key"), {"realm": realm, "key": key})).first())


async def insert_recognition(conn: AsyncConnection, realm: str, resident_id: int, year: int, title: str,
                             citation: str, key: str, request_hash: bytes, created_by: str) -> dict[str, Any] | None:
    return _one((await conn.execute(text(
        "INSERT INTO recognitions AS g (realm, resident_id, year, title, citation, idempotency_key, request_hash, "
        "created_by) VALUES (:realm, :resident, :year, :title, :citation, :key, :hash, :by) "
        f"ON CONFLICT ON CONSTRAINT recognitions_once_a_year DO NOTHING RETURNING {RECOGNITION_COLUMNS}"),
        {"realm": realm, "resident": resident_id, "year": year, "title": title, "citation": citation, "key": key,
         "hash": request_hash, "by": created_by})).first())


async def recognition(conn: AsyncConnection, recognition_id: int) -> dict[str, Any] | None:
    return _one((await conn.execute(text(
        f"SELECT {RECOGNITION_COLUMNS}, r.display_name, r.name_public, r.station_id, s.name AS station_name, "
        "rl.name AS realm_name FROM recognitions g JOIN residents r ON r.realm = g.realm AND r.id = g.resident_id "
        "JOIN stations s ON s.realm = r.realm AND s.id = r.station_id JOIN realms rl ON rl.code = g.realm "
        "WHERE g.id = :id"), {"id": recognition_id})).first())


async def recognitions(conn: AsyncConnection, realm: str, year: int | None, resident_id: int | None,
                       limit: int) -> list[dict[str, Any]]:
    return _all(await conn.execute(text(
        f"SELECT {RECOGNITION_COLUMNS}, r.display_name, r.name_public, r.station_id FROM recognitions g "
        "JOIN residents r ON r.realm = g.realm AND r.id = g.resident_id WHERE g.realm = :realm "
        "AND (CAST(:year AS integer) IS NULL OR g.year = :year) "
        "AND (CAST(:resident AS bigint) IS NULL OR g.resident_id = :resident) "
        "ORDER BY g.year DESC, g.id LIMIT :limit"),
        {"realm": realm, "year": year, "resident": resident_id, "limit": limit}))
