"""SQL for earning. Every function runs inside the caller's connection/transaction."""
from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from earning import model
from ledger import model as ledger_model
from ledger.require import require


def _one(row: Any) -> dict[str, Any] | None:
    return dict(row._mapping) if row is not None else None


def _all(result: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in result]


# places ----------------------------------------------------------------------------

async def insert_town(conn: AsyncConnection, realm: str, name: str) -> dict[str, Any]:
    row = (await conn.execute(text(
        "INSERT INTO towns (realm, name) VALUES (:realm, :name) RETURNING realm, id, name, created_at"),
        {"realm": realm, "name": name})).one()
    return dict(row._mapping)


async def find_town(conn: AsyncConnection, realm: str, town_id: int) -> dict[str, Any] | None:
    return _one((await conn.execute(text(
        "SELECT realm, id, name, created_at FROM towns WHERE realm = :realm AND id = :id"),
        {"realm": realm, "id": town_id})).first())


async def towns_page(conn: AsyncConnection, realm: str, after_id: int, limit: int) -> list[dict[str, Any]]:
    return _all(await conn.execute(text(
        "SELECT realm, id, name, created_at FROM towns WHERE realm = :realm AND id > :after "
        "ORDER BY id LIMIT :limit"), {"realm": realm, "after": after_id, "limit": limit}))


_STATION_COLUMNS = "s.realm, s.id, s.town_id, t.name AS town_name, s.name, s.setting, s.created_at"


async def insert_station(conn: AsyncConnection, realm: str, town_id: int, name: str,
                         setting: str) -> dict[str, Any]:
    station_id = (await conn.execute(text(
        "INSERT INTO stations (realm, town_id, name, setting) VALUES (:realm, :town, :name, :setting) "
        "RETURNING id"), {"realm": realm, "town": town_id, "name": name, "setting": setting})).scalar_one()
    found = await find_station(conn, station_id)
    require(found is not None, "a station just inserted is found")
    return found


async def find_station(conn: AsyncConnection, station_id: int) -> dict[str, Any] | None:
    return _one((await conn.execute(text(
        f"SELECT {_STATION_COLUMNS} FROM stations s JOIN towns t ON t.realm = s.realm AND t.id = s.town_id "
        "WHERE s.id = :id"), {"id": station_id})).first())


async def stations_page(conn: AsyncConnection, realm: str, after_id: int,
                        limit: int) -> list[dict[str, Any]]:
    return _all(await conn.execute(text(
        f"SELECT {_STATION_COLUMNS} FROM stations s JOIN towns t ON t.realm = s.realm AND t.id = s.town_id "
        "WHERE s.realm = :realm AND s.id > :after ORDER BY s.id LIMIT :limit"),
        {"realm": realm, "after": after_id, "limit": limit}))


# residents -------------------------------------------------------------------------

_RESIDENT_COLUMNS = "realm, id, station_id, code, display_name, phone, created_at"


async def insert_resident(conn: AsyncConnection, realm: str, station_id: int, code: str,
                          display_name: str | None, phone: str | None) -> dict[str, Any]:
    row = (await conn.execute(text(
        "INSERT INTO residents (realm, station_id, code, display_name, phone) "
        "VALUES (:realm, :station, :code, :name, :phone) "
        f"RETURNING {_RESIDENT_COLUMNS}"),
        {"realm": realm, "station": station_id, "code": code, "name": display_name,
         "phone": phone})).one()
    return dict(row._mapping)


async def insert_residents(conn: AsyncConnection, realm: str, station_id: int,
                           codes: list[str]) -> list[int]:
    """Many residents at once, each with one account per asset (bulk registration)."""
    ids = list((await conn.execute(text(
        "INSERT INTO residents (realm, station_id, code) "
        "SELECT :realm, :station, code FROM unnest(CAST(:codes AS text[])) WITH ORDINALITY AS c (code, n) "
        "ORDER BY n RETURNING id"), {"realm": realm, "station": station_id, "codes": codes})).scalars())
    await conn.execute(text(
        "INSERT INTO accounts (realm, kind, asset, floor, resident_id) "
        "SELECT :realm, 'resident', asset, 0, id FROM unnest(CAST(:ids AS bigint[])) AS r (id) "
        "CROSS JOIN unnest(CAST(:assets AS text[])) AS a (asset) ORDER BY id, asset"),
        {"realm": realm, "ids": ids, "assets": list(ledger_model.ASSETS)})
    return sorted(ids)


async def find_resident(conn: AsyncConnection, resident_id: int) -> dict[str, Any] | None:
    return _one((await conn.execute(text(
        f"SELECT {_RESIDENT_COLUMNS} FROM residents WHERE id = :id"), {"id": resident_id})).first())


async def find_resident_by_code(conn: AsyncConnection, realm: str, code: str) -> dict[str, Any] | None:
    return _one((await conn.execute(text(
        f"SELECT {_RESIDENT_COLUMNS} FROM residents WHERE realm = :realm AND code = :code"),
        {"realm": realm, "code": code})).first())


async def residents_page(conn: AsyncConnection, realm: str, station_id: int | None,
                         after_id: int, limit: int) -> list[dict[str, Any]]:
    return _all(await conn.execute(text(
        f"SELECT {_RESIDENT_COLUMNS} FROM residents WHERE realm = :realm AND id > :after "
        "AND (CAST(:station AS bigint) IS NULL OR station_id = :station) ORDER BY id LIMIT :limit"),
        {"realm": realm, "station": station_id, "after": after_id, "limit": limit}))


async def resident_accounts(conn: AsyncConnection, realm: str, resident_id: int) -> list[dict[str, Any]]:
    return _all(await conn.execute(text(
        "SELECT id, asset, balance FROM accounts WHERE realm = :realm AND kind = 'resident' "
        "AND resident_id = :resident ORDER BY asset"), {"realm": realm, "resident": resident_id}))


# activity types and rules ----------------------------------------------------------

_RULE_COLUMNS = ("r.version, r.asset, r.base_points, r.points_per_hour, r.creditable_minutes_max, "
                 "r.daily_cap_points, r.created_by, r.created_at")


async def insert_activity_type(conn: AsyncConnection, realm: str, code: str, name: str) -> None:
    await conn.execute(text("INSERT INTO activity_types (realm, code, name) VALUES (:realm, :code, :name)"),
                       {"realm": realm, "code": code, "name": name})


async def lock_activity_type(conn: AsyncConnection, realm: str, code: str) -> dict[str, Any] | None:
    """The type's row, locked so that two rule changes number their versions in turn."""
    return _one((await conn.execute(text(
        "SELECT realm, code, name FROM activity_types WHERE realm = :realm AND code = :code FOR UPDATE"),
        {"realm": realm, "code": code})).first())


async def insert_rule(conn: AsyncConnection, realm: str, code: str, rule: model.Rule,
                      created_by: str) -> int:
    return (await conn.execute(text(
        "INSERT INTO activity_rules (realm, activity_type, version, asset, base_points, points_per_hour, "
        "creditable_minutes_max, daily_cap_points, created_by) "
        "SELECT :realm, :code, coalesce(max(version), 0) + 1, :asset, :base, :per_hour, :minutes_max, "
        ":cap, :created_by FROM activity_rules WHERE realm = :realm AND activity_type = :code "
        "RETURNING version"),
        {"realm": realm, "code": code, "asset": rule.asset, "base": rule.base_points,
         "per_hour": rule.points_per_hour, "minutes_max": rule.creditable_minutes_max,
         "cap": rule.daily_cap_points, "created_by": created_by})).scalar_one()


async def activity_types(conn: AsyncConnection, realm: str, code: str | None = None) -> list[dict[str, Any]]:
    """Each type with its current rule (the highest version)."""
    return _all(await conn.execute(text(
        f"SELECT t.realm, t.code, t.name, {_RULE_COLUMNS} FROM activity_types t "
        "JOIN LATERAL (SELECT * FROM activity_rules ar WHERE ar.realm = t.realm "
        "AND ar.activity_type = t.code ORDER BY ar.version DESC LIMIT 1) r ON true "
        "WHERE t.realm = :realm AND (CAST(:code AS text) IS NULL OR t.code = :code) ORDER BY t.code"),
        {"realm": realm, "code": code}))


async def rule_versions(conn: AsyncConnection, realm: str, code: str) -> list[dict[str, Any]]:
    return _all(await conn.execute(text(
        f"SELECT {_RULE_COLUMNS} FROM activity_rules r WHERE r.realm = :realm AND r.activity_type = :code "
        "ORDER BY r.version"), {"realm": realm, "code": code}))


# activities ------------------------------------------------------------------------

_ACTIVITY_COLUMNS = ("realm, id, activity_type, station_id, title, starts_at, ends_at, created_by, created_at, "
                     "place, description, capacity, signup_opens_at, signup_closes_at, status, "
                     "confirmed_count, closed_at, close_summary")


async def insert_activity(conn: AsyncConnection, realm: str, activity_type: str, station_id: int,
                          title: str, starts_at: datetime, ends_at: datetime,
                          created_by: str, details: model.ActivityDetails) -> dict[str, Any]:
    row = (await conn.execute(text(
        "INSERT INTO activities (realm, activity_type, station_id, title, starts_at, ends_at, created_by, "
        "place, description, capacity, signup_opens_at, signup_closes_at, status) "
        "VALUES (:realm, :type, :station, :title, :starts, :ends, :created_by, :place, :description, "
        f":capacity, :opens, :closes, :status) RETURNING {_ACTIVITY_COLUMNS}"),
        {"realm": realm, "type": activity_type, "station": station_id, "title": title,
         "starts": starts_at, "ends": ends_at, "created_by": created_by, "place": details.place,
         "description": details.description, "capacity": details.capacity,
         "opens": details.signup_opens_at, "closes": details.signup_closes_at,
         "status": details.status})).one()
    return dict(row._mapping)


async def find_activity(conn: AsyncConnection, activity_id: int) -> dict[str, Any] | None:
    return _one((await conn.execute(text(
        f"SELECT {_ACTIVITY_COLUMNS} FROM activities WHERE id = :id"), {"id": activity_id})).first())


async def lock_activity(conn: AsyncConnection, realm: str, activity_id: int) -> dict[str, Any] | None:
    """The activity's row, locked: sign-ups, cancellations, status changes and closing
    of one activity take their turns."""
    return _one((await conn.execute(text(
        f"SELECT {_ACTIVITY_COLUMNS} FROM activities WHERE realm = :realm AND id = :id FOR UPDATE"),
        {"realm": realm, "id": activity_id})).first())


async def set_activity_status(conn: AsyncConnection, realm: str, activity_id: int,
                              status: str) -> dict[str, Any]:
    row = (await conn.execute(text(
        f"UPDATE activities SET status = :status WHERE realm = :realm AND id = :id RETURNING {_ACTIVITY_COLUMNS}"),
        {"realm": realm, "id": activity_id, "status": status})).one()
    return dict(row._mapping)


async def current_rule(conn: AsyncConnection, realm: str, activity_type: str) -> dict[str, Any] | None:
    found = await activity_types(conn, realm, activity_type)
    return found[0] if found else None


_LISTED_ACTIVITY = (
    "SELECT a.realm, a.id, a.activity_type, t.name AS type_name, a.station_id, s.name AS station_name, "
    "s.town_id, a.title, a.starts_at, a.ends_at, a.place, a.description, a.capacity, a.confirmed_count, "
    "a.signup_opens_at, a.signup_closes_at, a.status, a.closed_at, "
    "r.asset, r.base_points, r.points_per_hour, r.creditable_minutes_max, r.daily_cap_points, r.version, "
    "my.status AS my_signup, aw.points AS my_points, ci.checked_in_at AS my_checked_in_at, "
    "ci.checked_out_at AS my_checked_out_at "
    "FROM activities a "
    "JOIN stations s ON s.realm = a.realm AND s.id = a.station_id "
    "JOIN activity_types t ON t.realm = a.realm AND t.code = a.activity_type "
    "JOIN LATERAL (SELECT * FROM activity_rules ar WHERE ar.realm = a.realm "
    "              AND ar.activity_type = a.activity_type ORDER BY ar.version DESC LIMIT 1) r ON true "
    "LEFT JOIN activity_signups my ON my.realm = a.realm AND my.activity_id = a.id "
    "     AND my.resident_id = CAST(:resident AS bigint) "
    "LEFT JOIN awards aw ON aw.realm = a.realm AND aw.activity_id = a.id "
    "     AND aw.resident_id = CAST(:resident AS bigint) "
    "LEFT JOIN activity_checkins ci ON ci.realm = a.realm AND ci.activity_id = a.id "
    "     AND ci.resident_id = CAST(:resident AS bigint) ")


async def upcoming_activities(conn: AsyncConnection, query: dict[str, Any], offset: int,
                              limit: int) -> list[dict[str, Any]]:
    """Activities still to come (or ended since `ended_since`) in `statuses`: the
    caller's station first, then its town, then the rest of the realm; soonest first."""
    return _all(await conn.execute(text(
        _LISTED_ACTIVITY +
        "WHERE a.realm = :realm AND a.status = ANY(CAST(:statuses AS text[])) AND a.ends_at > :ended_since "
        "AND (CAST(:only_station AS bigint) IS NULL OR a.station_id = :only_station) "
        "AND (CAST(:type AS text) IS NULL OR a.activity_type = :type) "
        "AND (CAST(:day AS date) IS NULL OR CAST(a.starts_at AT TIME ZONE :tz AS date) = :day) "
        "ORDER BY CASE WHEN a.station_id = CAST(:station AS bigint) THEN 0 "
        "              WHEN s.town_id = (SELECT town_id FROM stations WHERE realm = :realm "
        "                                AND id = CAST(:station AS bigint)) THEN 1 ELSE 2 END, "
        "a.starts_at, a.id OFFSET :offset LIMIT :limit"),
        {"realm": query["realm"], "statuses": list(query["statuses"]), "ended_since": query["ended_since"],
         "only_station": query.get("only_station"), "type": query.get("activity_type"),
         "day": query.get("day"), "tz": query["timezone"], "station": query.get("station_id"),
         "resident": query.get("resident_id"), "offset": offset, "limit": limit}))


async def resident_activities(conn: AsyncConnection, realm: str, resident_id: int, offset: int,
                              limit: int) -> list[dict[str, Any]]:
    """A resident's activities: signed up (not cancelled), checked in, or awarded; newest first."""
    return _all(await conn.execute(text(
        _LISTED_ACTIVITY +
        "WHERE a.realm = :realm AND ((my.status IS NOT NULL AND my.status <> 'cancelled') "
        "OR ci.resident_id IS NOT NULL OR aw.resident_id IS NOT NULL) "
        "ORDER BY a.starts_at DESC, a.id DESC OFFSET :offset LIMIT :limit"),
        {"realm": realm, "resident": resident_id, "offset": offset, "limit": limit}))


async def listed_activity(conn: AsyncConnection, realm: str, activity_id: int,
                          resident_id: int | None) -> dict[str, Any] | None:
    return _one((await conn.execute(text(
        _LISTED_ACTIVITY + "WHERE a.realm = :realm AND a.id = :id"),
        {"realm": realm, "id": activity_id, "resident": resident_id})).first())


# sign-ups --------------------------------------------------------------------------

_SIGNUP_COLUMNS = "realm, activity_id, resident_id, status, position, created_by, created_at, updated_at"


async def find_signup(conn: AsyncConnection, realm: str, activity_id: int,
                      resident_id: int) -> dict[str, Any] | None:
    return _one((await conn.execute(text(
        f"SELECT {_SIGNUP_COLUMNS} FROM activity_signups "
        "WHERE realm = :realm AND activity_id = :activity AND resident_id = :resident"),
        {"realm": realm, "activity": activity_id, "resident": resident_id})).first())


async def waitlisted_count(conn: AsyncConnection, realm: str, activity_id: int,
                           before_position: int | None = None) -> int:
    return (await conn.execute(text(
        "SELECT count(*) FROM activity_signups WHERE realm = :realm AND activity_id = :activity "
        "AND status = 'waitlisted' AND (CAST(:before AS bigint) IS NULL OR position < :before)"),
        {"realm": realm, "activity": activity_id, "before": before_position})).scalar_one()


async def put_signup(conn: AsyncConnection, realm: str, activity_id: int, resident_id: int,
                     status: str, created_by: str) -> dict[str, Any]:
    """A new sign-up, or a cancelled one taken up again (at the back of the queue)."""
    row = (await conn.execute(text(
        "INSERT INTO activity_signups (realm, activity_id, resident_id, status, created_by) "
        "VALUES (:realm, :activity, :resident, :status, :by) "
        "ON CONFLICT (realm, activity_id, resident_id) DO UPDATE SET status = EXCLUDED.status, "
        "position = nextval('activity_signup_positions'), updated_at = now(), created_by = EXCLUDED.created_by "
        f"WHERE activity_signups.status = 'cancelled' RETURNING {_SIGNUP_COLUMNS}"),
        {"realm": realm, "activity": activity_id, "resident": resident_id, "status": status,
         "by": created_by})).one()
    return dict(row._mapping)


async def set_signup_status(conn: AsyncConnection, realm: str, activity_id: int, resident_id: int,
                            status: str) -> dict[str, Any]:
    row = (await conn.execute(text(
        "UPDATE activity_signups SET status = :status, updated_at = now() "
        "WHERE realm = :realm AND activity_id = :activity AND resident_id = :resident "
        f"RETURNING {_SIGNUP_COLUMNS}"),
        {"realm": realm, "activity": activity_id, "resident": resident_id, "status": status})).one()
    return dict(row._mapping)


async def first_waitlisted(conn: AsyncConnection, realm: str, activity_id: int) -> int | None:
    return (await conn.execute(text(
        "SELECT resident_id FROM activity_signups WHERE realm = :realm AND activity_id = :activity "
        "AND status = 'waitlisted' ORDER BY position LIMIT 1"),
        {"realm": realm, "activity": activity_id})).scalar()


async def signups(conn: AsyncConnection, realm: str, activity_id: int) -> list[dict[str, Any]]:
    return _all(await conn.execute(text(
        "SELECT g.resident_id, g.status, g.position, r.code, r.display_name FROM activity_signups g "
        "JOIN residents r ON r.realm = g.realm AND r.id = g.resident_id "
        "WHERE g.realm = :realm AND g.activity_id = :activity AND g.status <> 'cancelled' "
        "ORDER BY g.status, g.position"), {"realm": realm, "activity": activity_id}))


async def activity_realms(conn: AsyncConnection, activity_ids: list[int]) -> dict[int, str]:
    rows = await conn.execute(text("SELECT id, realm FROM activities WHERE id = ANY(:ids)"),
                              {"ids": activity_ids})
    return {row.id: row.realm for row in rows}


async def resident_ids_by_code(conn: AsyncConnection,
                                pairs: list[tuple[str, str | None]]) -> dict[tuple[str, str], int]:
    """(realm, code) -> resident id, for the pairs that name a resident."""
    if not pairs:
        return {}
    rows = await conn.execute(text(
        "SELECT r.realm, r.code, r.id FROM residents r "
        "JOIN unnest(CAST(:realms AS text[]), CAST(:codes AS text[])) AS wanted (realm, code) "
        "ON r.realm = wanted.realm AND r.code = wanted.code"),
        {"realms": [realm for realm, _ in pairs], "codes": [code for _, code in pairs]})
    return {(row.realm, row.code): row.id for row in rows}


async def award_titles(conn: AsyncConnection, realm: str, resident_id: int,
                       entry_ids: list[int]) -> dict[int, str]:
    """entry id -> the title of the activity the resident was awarded for in it."""
    rows = await conn.execute(text(
        "SELECT a.entry_id, act.title FROM awards a "
        "JOIN activities act ON act.realm = a.realm AND act.id = a.activity_id "
        "WHERE a.realm = :realm AND a.resident_id = :resident AND a.entry_id = ANY(:ids)"),
        {"realm": realm, "resident": resident_id, "ids": entry_ids})
    return {row.entry_id: row.title for row in rows}


async def activities_page(conn: AsyncConnection, realm: str, station_id: int | None,
                          after_id: int, limit: int) -> list[dict[str, Any]]:
    return _all(await conn.execute(text(
        f"SELECT {_ACTIVITY_COLUMNS} FROM activities WHERE realm = :realm AND id > :after "
        "AND (CAST(:station AS bigint) IS NULL OR station_id = :station) ORDER BY id LIMIT :limit"),
        {"realm": realm, "station": station_id, "after": after_id, "limit": limit}))


# the venue -------------------------------------------------------------------------

async def realm_secret(conn: AsyncConnection, realm: str, purpose: str, fresh: bytes) -> bytes:
    """The realm's secret for `purpose`: `fresh` if this call made it, else the stored one."""
    await conn.execute(text(
        "INSERT INTO realm_secrets (realm, purpose, secret) VALUES (:realm, :purpose, :secret) "
        "ON CONFLICT DO NOTHING"), {"realm": realm, "purpose": purpose, "secret": fresh})
    return bytes((await conn.execute(text(
        "SELECT secret FROM realm_secrets WHERE realm = :realm AND purpose = :purpose"),
        {"realm": realm, "purpose": purpose})).scalar_one())


async def share_activity(conn: AsyncConnection, realm: str, activity_id: int) -> dict[str, Any] | None:
    """The activity's row under a share lock: check-ins go in together, closing waits for them."""
    return _one((await conn.execute(text(
        f"SELECT {_ACTIVITY_COLUMNS} FROM activities WHERE realm = :realm AND id = :id FOR SHARE"),
        {"realm": realm, "id": activity_id})).first())


_CHECKIN_COLUMNS = "realm, activity_id, resident_id, checked_in_at, checked_out_at, in_by, out_by"


async def lock_checkin(conn: AsyncConnection, realm: str, activity_id: int,
                       resident_id: int) -> dict[str, Any] | None:
    return _one((await conn.execute(text(
        f"SELECT {_CHECKIN_COLUMNS} FROM activity_checkins "
        "WHERE realm = :realm AND activity_id = :activity AND resident_id = :resident FOR UPDATE"),
        {"realm": realm, "activity": activity_id, "resident": resident_id})).first())


async def insert_checkin(conn: AsyncConnection, realm: str, activity_id: int, resident_id: int,
                         at: datetime, by: str) -> dict[str, Any] | None:
    """The check-in, or None when a concurrent scan checked in first."""
    return _one((await conn.execute(text(
        "INSERT INTO activity_checkins (realm, activity_id, resident_id, checked_in_at, in_by) "
        "VALUES (:realm, :activity, :resident, :at, :by) ON CONFLICT DO NOTHING "
        f"RETURNING {_CHECKIN_COLUMNS}"),
        {"realm": realm, "activity": activity_id, "resident": resident_id, "at": at, "by": by})).first())


async def check_out(conn: AsyncConnection, realm: str, activity_id: int, resident_id: int,
                    at: datetime, by: str) -> dict[str, Any]:
    row = (await conn.execute(text(
        "UPDATE activity_checkins SET checked_out_at = :at, out_by = :by "
        "WHERE realm = :realm AND activity_id = :activity AND resident_id = :resident "
        f"RETURNING {_CHECKIN_COLUMNS}"),
        {"realm": realm, "activity": activity_id, "resident": resident_id, "at": at, "by": by})).one()
    return dict(row._mapping)


async def checkins(conn: AsyncConnection, realm: str, activity_id: int) -> list[dict[str, Any]]:
    return _all(await conn.execute(text(
        "SELECT c.resident_id, r.code, r.display_name, c.checked_in_at, c.checked_out_at "
        "FROM activity_checkins c JOIN residents r ON r.realm = c.realm AND r.id = c.resident_id "
        "WHERE c.realm = :realm AND c.activity_id = :activity ORDER BY c.checked_in_at, c.resident_id"),
        {"realm": realm, "activity": activity_id}))


async def close_activity(conn: AsyncConnection, realm: str, activity_id: int, at: datetime,
                         summary: dict[str, Any]) -> None:
    await conn.execute(text(
        "UPDATE activities SET status = 'closed', closed_at = :at, close_summary = CAST(:summary AS jsonb) "
        "WHERE realm = :realm AND id = :id"),
        {"realm": realm, "id": activity_id, "at": at, "summary": json.dumps(summary, default=str)})


async def ended_activities(conn: AsyncConnection, realm: str | None, before: datetime,
                           limit: int) -> list[dict[str, Any]]:
    """Published activities that ended before `before` (the background job closes them)."""
    return _all(await conn.execute(text(
        f"SELECT {_ACTIVITY_COLUMNS} FROM activities WHERE status = 'published' AND ends_at < :before "
        "AND (CAST(:realm AS text) IS NULL OR realm = :realm) ORDER BY ends_at LIMIT :limit"),
        {"realm": realm, "before": before, "limit": limit}))


# attendance ------------------------------------------------------------------------

async def award_chunk(conn: AsyncConnection, realm: str, records: list[model.Record],
                      created_by: str) -> list[dict[str, Any]]:
    """One result per record, from the set-based award function."""
    request = {"realm": realm, "created_by": created_by,
               "records": [{"n": r.n, "activity_id": r.activity_id, "resident_id": r.resident_id,
                            "minutes": r.minutes} for r in records]}
    result = await conn.execute(text("SELECT earning_award_chunk(CAST(:request AS jsonb))"),
                                {"request": json.dumps(request)})
    return result.scalar_one()


async def record_attendance(conn: AsyncConnection, request: dict[str, Any]) -> dict[str, Any]:
    """Replay, award and store a bulk attendance request in one statement (its request
    hash goes to SQL as hex)."""
    result = await conn.execute(text("SELECT earning_record_attendance(CAST(:request AS jsonb))"),
                                {"request": json.dumps({**request, "request_hash": request["request_hash"].hex()})})
    return result.scalar_one()


# history, totals, leaderboards, budgets -----------------------------------------------

async def awards_page(conn: AsyncConnection, realm: str, resident_id: int, before_entry: int | None,
                      limit: int) -> list[dict[str, Any]]:
    return _all(await conn.execute(text(
        "SELECT aw.entry_id, aw.activity_id, a.title, aw.activity_type, aw.rule_version, aw.asset, "
        "aw.minutes, aw.points, aw.award_day, aw.created_at FROM awards aw "
        "JOIN activities a ON a.realm = aw.realm AND a.id = aw.activity_id "
        "WHERE aw.realm = :realm AND aw.resident_id = :resident "
        "AND (CAST(:before AS bigint) IS NULL OR aw.entry_id < :before) "
        "ORDER BY aw.entry_id DESC LIMIT :limit"),
        {"realm": realm, "resident": resident_id, "before": before_entry, "limit": limit}))


async def resident_totals(conn: AsyncConnection, realm: str, resident_id: int, first: date,
                          last: date) -> dict[str, Any]:
    row = (await conn.execute(text(
        "SELECT count(*) AS activities, CAST(coalesce(sum(minutes), 0) AS bigint) AS minutes, "
        "CAST(coalesce(sum(points) FILTER (WHERE asset = 'civic'), 0) AS bigint) AS civic_points, "
        "CAST(coalesce(sum(points) FILTER (WHERE asset = 'agri'), 0) AS bigint) AS agri_points "
        "FROM awards WHERE realm = :realm AND resident_id = :resident "
        "AND award_day BETWEEN :first AND :last"),
        {"realm": realm, "resident": resident_id, "first": first, "last": last})).one()
    return dict(row._mapping)


async def leaderboard(conn: AsyncConnection, realm: str, station_id: int | None, first: date,
                      last: date, order: str, offset: int, limit: int) -> list[dict[str, Any]]:
    ordering = ("points DESC, minutes DESC, resident_id" if order == "points"
                else "minutes DESC, points DESC, resident_id")
    return _all(await conn.execute(text(
        "SELECT aw.resident_id, r.code, r.display_name, r.name_public, r.station_id, "
        "CAST(sum(aw.points) AS bigint) AS points, "
        "CAST(sum(aw.minutes) AS bigint) AS minutes, count(*) AS activities FROM awards aw "
        "JOIN residents r ON r.realm = aw.realm AND r.id = aw.resident_id "
        "WHERE aw.realm = :realm AND aw.award_day BETWEEN :first AND :last "
        "AND (CAST(:station AS bigint) IS NULL OR r.station_id = :station) "
        f"GROUP BY aw.resident_id, r.code, r.display_name, r.name_public, r.station_id ORDER BY {ordering} "
        "OFFSET :offset LIMIT :limit"),
        {"realm": realm, "station": station_id, "first": first, "last": last, "offset": offset,
         "limit": limit}))


async def budgets(conn: AsyncConnection, realm: str) -> list[dict[str, Any]]:
    """Per asset: the budget account, what was funded into it, spent from it, and left."""
    return _all(await conn.execute(text(
        "SELECT a.asset, a.id AS account_id, a.balance AS remaining, "
        "CAST(coalesce(sum(p.amount) FILTER (WHERE e.kind = 'fund'), 0) AS bigint) AS funded_total, "
        "CAST(coalesce(-sum(p.amount) FILTER (WHERE e.kind = 'earn'), 0) AS bigint) AS spent_total, "
        "CAST(coalesce(sum(p.amount) FILTER (WHERE e.kind NOT IN ('fund', 'earn')), 0) AS bigint) AS other_total "
        "FROM accounts a LEFT JOIN postings p ON p.realm = a.realm AND p.account_id = a.id "
        "LEFT JOIN entries e ON e.realm = p.realm AND e.id = p.entry_id "
        "WHERE a.realm = :realm AND a.kind = 'budget' GROUP BY a.asset, a.id, a.balance ORDER BY a.asset"),
        {"realm": realm}))
