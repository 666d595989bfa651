"""SQL for the service loop. Every function runs inside the caller's connection/transaction."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from orders import model


def _one(row: Any) -> dict[str, Any] | None:
    return dict(row._mapping) if row is not None else None


def _all(result: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in result]


# settings ----------------------------------------------------------------------------

async def settings(conn: AsyncConnection, realm: str) -> model.Settings:
    row = (await conn.execute(text(
        "SELECT skills, rating_reward_points, alert_ratings_min FROM service_settings WHERE realm = :realm"),
        {"realm": realm})).first()
    if row is None:
        return model.Settings()
    return model.Settings(tuple(row.skills), row.rating_reward_points, row.alert_ratings_min)


async def put_settings(conn: AsyncConnection, realm: str, settings: model.Settings, by: str) -> None:
    await conn.execute(text(
        "INSERT INTO service_settings (realm, skills, rating_reward_points, alert_ratings_min, updated_by) "
        "VALUES (:realm, :skills, :reward, :alerts, :by) ON CONFLICT (realm) DO UPDATE SET "
        "skills = EXCLUDED.skills, rating_reward_points = EXCLUDED.rating_reward_points, "
        "alert_ratings_min = EXCLUDED.alert_ratings_min, updated_by = EXCLUDED.updated_by, updated_at = now()"),
        {"realm": realm, "skills": list(settings.skills), "reward": settings.rating_reward_points,
         "alerts": settings.alert_ratings_min, "by": by})


# places and people (read only: earning owns them) ------------------------------------

async def find_resident(conn: AsyncConnection, realm: str, resident_id: int) -> dict[str, Any] | None:
    return _one((await conn.execute(text(
        "SELECT realm, id, station_id, code, display_name FROM residents WHERE realm = :realm AND id = :id"),
        {"realm": realm, "id": resident_id})).first())


async def existing_stations(conn: AsyncConnection, realm: str, station_ids: list[int]) -> list[int]:
    return list((await conn.execute(text(
        "SELECT id FROM stations WHERE realm = :realm AND id = ANY(CAST(:ids AS bigint[])) ORDER BY id"),
        {"realm": realm, "ids": station_ids})).scalars())


async def resident_account(conn: AsyncConnection, realm: str, resident_id: int, asset: str) -> int | None:
    return (await conn.execute(text(
        "SELECT id FROM accounts WHERE realm = :realm AND kind = 'resident' AND asset = :asset "
        "AND resident_id = :resident"), {"realm": realm, "asset": asset, "resident": resident_id})).scalar()


async def budget_account(conn: AsyncConnection, realm: str, asset: str) -> int | None:
    return (await conn.execute(text(
        "SELECT id FROM accounts WHERE realm = :realm AND kind = 'budget' AND asset = :asset"),
        {"realm": realm, "asset": asset})).scalar()


# volunteers --------------------------------------------------------------------------

_VOLUNTEER_COLUMNS = ("v.realm, v.resident_id, r.code, r.display_name, v.skills, v.station_ids, v.availability, "
                      "v.status, v.decided_by, v.decided_at, v.open_tasks, v.created_at, "
                      "t.ratings, t.total")
_VOLUNTEER_FROM = ("FROM volunteers v JOIN residents r ON r.realm = v.realm AND r.id = v.resident_id "
                   "LEFT JOIN rating_totals t ON t.realm = v.realm AND t.subject_kind = 'volunteer' "
                   "AND t.subject_key = CAST(v.resident_id AS text) ")


async def find_volunteer(conn: AsyncConnection, realm: str, resident_id: int,
                         lock: bool = False) -> dict[str, Any] | None:
    suffix = " FOR UPDATE OF v" if lock else ""
    return _one((await conn.execute(text(
        f"SELECT {_VOLUNTEER_COLUMNS} {_VOLUNTEER_FROM} WHERE v.realm = :realm AND v.resident_id = :id{suffix}"),
        {"realm": realm, "id": resident_id})).first())


async def put_volunteer(conn: AsyncConnection, realm: str, resident_id: int, skills: list[str],
                        station_ids: list[int], availability: str | None) -> None:
    """A new application, or a pending or rejected one made again (pending once more)."""
    await conn.execute(text(
        "INSERT INTO volunteers (realm, resident_id, skills, station_ids, availability) "
        "VALUES (:realm, :id, :skills, :stations, :availability) ON CONFLICT (realm, resident_id) DO UPDATE "
        "SET skills = EXCLUDED.skills, station_ids = EXCLUDED.station_ids, availability = EXCLUDED.availability, "
        "status = 'pending', decided_by = NULL, decided_at = NULL"),
        {"realm": realm, "id": resident_id, "skills": skills, "stations": station_ids,
         "availability": availability})


async def decide_volunteer(conn: AsyncConnection, realm: str, resident_id: int, status: str,
                           by: str) -> None:
    await conn.execute(text(
        "UPDATE volunteers SET status = :status, decided_by = :by, decided_at = now() "
        "WHERE realm = :realm AND resident_id = :id"),
        {"realm": realm, "id": resident_id, "status": status, "by": by})
    await conn.execute(text("DELETE FROM volunteer_postings WHERE realm = :realm AND resident_id = :id"),
                       {"realm": realm, "id": resident_id})
    if status == "approved":
        await conn.execute(text(
            "INSERT INTO volunteer_postings (realm, station_id, skill, resident_id) "
            "SELECT v.realm, s.station_id, k.skill, v.resident_id FROM volunteers v "
            "CROSS JOIN unnest(v.station_ids) AS s (station_id) CROSS JOIN unnest(v.skills) AS k (skill) "
            "WHERE v.realm = :realm AND v.resident_id = :id"), {"realm": realm, "id": resident_id})


async def volunteers_page(conn: AsyncConnection, realm: str, status: str | None, station_id: int | None,
                          after_id: int, limit: int) -> list[dict[str, Any]]:
    return _all(await conn.execute(text(
        f"SELECT {_VOLUNTEER_COLUMNS} {_VOLUNTEER_FROM} WHERE v.realm = :realm AND v.resident_id > :after "
        "AND (CAST(:status AS text) IS NULL OR v.status = :status) "
        "AND (CAST(:station AS bigint) IS NULL OR CAST(:station AS bigint) = ANY(v.station_ids)) "
        "ORDER BY v.resident_id LIMIT :limit"),
        {"realm": realm, "status": status, "station": station_id, "after": after_id, "limit": limit}))


# service requests --------------------------------------------------------------------

_REQUEST_COLUMNS = ("realm, id, requester_id, station_id, category, description, notes, urgent, wanted_from, "
                    "wanted_until, state, volunteer_id, dispatched_by, dispatched_at, accepted_at, done_at, "
                    "minutes, confirmed_at, confirmed_by, rating, comment, queue_note, overdue, created_by, "
                    "created_at, updated_at")


async def insert_request(conn: AsyncConnection, realm: str, new: model.NewRequest, by: str) -> dict[str, Any]:
    row = (await conn.execute(text(
        "INSERT INTO service_requests (realm, requester_id, station_id, category, description, notes, urgent, "
        "wanted_from, wanted_until, created_by) VALUES (:realm, :requester, :station, :category, :description, "
        f":notes, :urgent, :wanted_from, :wanted_until, :by) RETURNING {_REQUEST_COLUMNS}"),
        {"realm": realm, "requester": new.requester_id, "station": new.station_id, "category": new.category,
         "description": new.description, "notes": new.notes, "urgent": new.urgent,
         "wanted_from": new.wanted_from, "wanted_until": new.wanted_until, "by": by})).one()
    return dict(row._mapping)


async def find_request(conn: AsyncConnection, request_id: int) -> dict[str, Any] | None:
    return _one((await conn.execute(text(
        f"SELECT {_REQUEST_COLUMNS} FROM service_requests WHERE id = :id"), {"id": request_id})).first())


async def lock_request(conn: AsyncConnection, realm: str, request_id: int) -> dict[str, Any] | None:
    """The request's row, locked: its steps take their turns."""
    return _one((await conn.execute(text(
        f"SELECT {_REQUEST_COLUMNS} FROM service_requests WHERE realm = :realm AND id = :id FOR UPDATE"),
        {"realm": realm, "id": request_id})).first())


_STEP_SETS = {
    "dispatch": "volunteer_id = :volunteer, dispatched_by = :by, dispatched_at = now(), queue_note = NULL",
    "accept": "accepted_at = now()",
    "decline": "volunteer_id = NULL, dispatched_by = NULL, dispatched_at = NULL, queue_note = :note",
    "done": "done_at = now(), minutes = :minutes",
    "confirm": "confirmed_at = now(), confirmed_by = :by, rating = :rating, comment = :comment",
    "cancel": "volunteer_id = NULL",
}


async def move_request(conn: AsyncConnection, realm: str, request_id: int, step: model.Step,
                       by: str) -> dict[str, Any] | None:
    """The step's guarded UPDATE: it changes the row only from the step's source states
    (None when the request was not in one of them)."""
    sources, target = model.STEPS[step.name]
    note = step.extra.get("note", model.DECLINE_NOTE)
    return _one((await conn.execute(text(
        f"UPDATE service_requests SET state = :target, {_STEP_SETS[step.name]} "
        "WHERE realm = :realm AND id = :id AND state = ANY(CAST(:sources AS text[])) "
        f"RETURNING {_REQUEST_COLUMNS}"),
        {"realm": realm, "id": request_id, "target": target, "sources": list(sources),
         "volunteer": step.volunteer_id, "by": by, "minutes": step.minutes, "rating": step.rating,
         "comment": step.comment, "note": note})).first())


async def find_step(conn: AsyncConnection, realm: str, key: str) -> dict[str, Any] | None:
    return _one((await conn.execute(text(
        "SELECT request_id, step, request_hash FROM service_request_steps "
        "WHERE realm = :realm AND idempotency_key = :key"), {"realm": realm, "key": key})).first())


async def lock_key(conn: AsyncConnection, realm: str, key: str) -> None:
    """Requests under one Idempotency-Key take their turns (until this transaction ends)."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"),
                       {"name": f"service-step:{realm}:{key}"})


async def insert_step(conn: AsyncConnection, realm: str, key: str, request_id: int, step: str,
                      request_hash: bytes, by: str) -> None:
    await conn.execute(text(
        "INSERT INTO service_request_steps (realm, idempotency_key, request_id, step, request_hash, created_by) "
        "VALUES (:realm, :key, :request, :step, :hash, :by)"),
        {"realm": realm, "key": key, "request": request_id, "step": step, "hash": request_hash, "by": by})


async def day_earned(conn: AsyncConnection, realm: str, request_id: int, resident_id: int,
                     activity_type: str) -> tuple[date, int]:
    """The realm day a request was done on (`done_at` in the realm's time zone: the day
    its pay counts on) and what `resident_id` has earned that day under `activity_type`,
    attendance and service awards alike (`earning_earned_on_day`, the daily cap's one
    sum). Read it after locking the resident's account."""
    row = (await conn.execute(text(
        "SELECT d.day, earning_earned_on_day(:realm, :resident, :type, d.day) AS earned "
        "FROM (SELECT (s.done_at AT TIME ZONE r.timezone)::date AS day FROM service_requests s "
        "      JOIN realms r ON r.code = s.realm WHERE s.realm = :realm AND s.id = :id) d"),
        {"realm": realm, "id": request_id, "resident": resident_id, "type": activity_type})).one()
    return row.day, row.earned


async def insert_award(conn: AsyncConnection, realm: str, request_id: int, kind: str, resident_id: int,
                       entry_id: int, asset: str, points: int, rule: model.Pay | None = None,
                       award_day: date | None = None) -> None:
    """A volunteer award names its rule (activity type, version) and day; a rating award neither."""
    await conn.execute(text(
        "INSERT INTO service_awards (realm, request_id, kind, resident_id, entry_id, asset, points, rule_version, "
        "activity_type, award_day) VALUES (:realm, :request, :kind, :resident, :entry, :asset, :points, :version, "
        ":type, :day)"),
        {"realm": realm, "request": request_id, "kind": kind, "resident": resident_id, "entry": entry_id,
         "asset": asset, "points": points, "version": rule.rule_version if rule else None,
         "type": rule.activity_type if rule else None, "day": award_day})


async def awards_of(conn: AsyncConnection, realm: str, request_id: int) -> list[dict[str, Any]]:
    return _all(await conn.execute(text(
        "SELECT kind, resident_id, entry_id, asset, points, award_day FROM service_awards "
        "WHERE realm = :realm AND request_id = :id ORDER BY kind DESC"), {"realm": realm, "id": request_id}))


async def requests_page(conn: AsyncConnection, realm: str, role: str, resident_id: int | None,
                        station_id: int | None, before_id: int | None, limit: int) -> list[dict[str, Any]]:
    """A resident's requests (`requested`), a volunteer's tasks (`assigned`), or a station's
    / realm's requests (`station`); newest first, by key."""
    where = {"requested": "requester_id = :resident", "assigned": "volunteer_id = :resident",
             "station": "(CAST(:station AS bigint) IS NULL OR station_id = :station)"}[role]
    return _all(await conn.execute(text(
        f"SELECT {_REQUEST_COLUMNS}, (SELECT CAST(coalesce(sum(points), 0) AS bigint) FROM service_awards a "
        "  WHERE a.realm = service_requests.realm AND a.request_id = service_requests.id "
        "  AND a.kind = 'volunteer') AS volunteer_points "
        f"FROM service_requests WHERE realm = :realm AND {where} "
        "AND (CAST(:before AS bigint) IS NULL OR id < :before) ORDER BY id DESC LIMIT :limit"),
        {"realm": realm, "resident": resident_id, "station": station_id, "before": before_id, "limit": limit}))


# the queue ---------------------------------------------------------------------------

async def queue(conn: AsyncConnection, realm: str, station_id: int | None,
                after: tuple[bool, datetime, int] | None, limit: int, per_pair: int) -> list[dict[str, Any]]:
    """A page of the queue with its suggested volunteers, in one statement (one round trip).

    The page: open requests, most urgent then oldest first; one branch per urgency, each
    read along the partial queue index from the cursor on (never a sort of the queue).
    The suggestions: for each (station, skill) on the page, approved volunteers serving it
    (volunteer_postings, probed by key), fewest open tasks, then best rated; the
    requester itself is never suggested."""
    by_station = "station_id = :station AND " if station_id is not None else ""
    branches = []
    for urgent in (True, False):
        if after is not None and after[0] is False and urgent:
            continue                     # the urgent ones were all on earlier pages
        keyset = ("AND (created_at, id) > (CAST(:created AS timestamptz), :last) "
                  if after is not None and after[0] is urgent else "")
        branches.append(
            f"(SELECT {_REQUEST_COLUMNS} FROM service_requests WHERE realm = :realm AND {by_station}"
            f"state = 'open' AND {'' if urgent else 'NOT '}urgent {keyset}"
            "ORDER BY created_at, id LIMIT :limit)")
    return _all(await conn.execute(text(
        "WITH page AS MATERIALIZED (SELECT * FROM (" + " UNION ALL ".join(branches) + ") AS q "
        "  ORDER BY urgent DESC, created_at, id LIMIT :limit), "
        "pairs AS (SELECT DISTINCT station_id, category FROM page), "
        "picked AS MATERIALIZED (SELECT pairs.station_id, pairs.category, s.* FROM pairs CROSS JOIN LATERAL ("
        "  SELECT p.resident_id, v.open_tasks, t.ratings, t.total FROM volunteer_postings p "
        "  JOIN LATERAL (SELECT open_tasks FROM volunteers v WHERE v.realm = p.realm "
        "                AND v.resident_id = p.resident_id LIMIT 1) v ON true "
        "  LEFT JOIN LATERAL (SELECT ratings, total FROM rating_totals t WHERE t.realm = p.realm "
        "       AND t.subject_kind = 'volunteer' AND t.subject_key = CAST(p.resident_id AS text) LIMIT 1) t ON true "
        "  WHERE p.realm = :realm AND p.station_id = pairs.station_id AND p.skill = pairs.category "
        "  ORDER BY v.open_tasks, coalesce(t.total::numeric / nullif(t.ratings, 0), 0) DESC, p.resident_id "
        "  LIMIT :per_pair) s) "
        "SELECT page.*, coalesce((SELECT jsonb_agg(jsonb_build_object('resident_id', k.resident_id, "
        "    'code', r.code, 'display_name', r.display_name, 'open_tasks', k.open_tasks, 'ratings', k.ratings, "
        "    'total', k.total) ORDER BY k.open_tasks, coalesce(k.total::numeric / nullif(k.ratings, 0), 0) DESC, "
        "    k.resident_id) "
        "  FROM picked k JOIN LATERAL (SELECT code, display_name FROM residents r WHERE r.realm = :realm "
        "       AND r.id = k.resident_id LIMIT 1) r ON true "
        "  WHERE k.station_id = page.station_id AND k.category = page.category "
        "  AND k.resident_id <> page.requester_id), '[]') AS suggestions "
        "FROM page ORDER BY urgent DESC, created_at, id"),
        {"realm": realm, "station": station_id, "created": after[1] if after else None,
         "last": after[2] if after else None, "limit": limit, "per_pair": per_pair}))


# background jobs ---------------------------------------------------------------------

async def time_out_dispatches(conn: AsyncConnection, before: datetime, limit: int) -> list[dict[str, Any]]:
    """Requests dispatched before `before` and not accepted: back to the queue with a note."""
    return _all(await conn.execute(text(
        "UPDATE service_requests SET state = 'open', volunteer_id = NULL, dispatched_by = NULL, "
        "dispatched_at = NULL, queue_note = :note "
        "WHERE (realm, id) IN (SELECT realm, id FROM service_requests WHERE state = 'dispatched' "
        "  AND dispatched_at < :before ORDER BY dispatched_at LIMIT :limit FOR UPDATE SKIP LOCKED) "
        "AND state = 'dispatched' RETURNING realm, id"),
        {"before": before, "limit": limit, "note": model.TIMEOUT_NOTE}))


async def flag_overdue(conn: AsyncConnection, now: datetime, limit: int) -> list[dict[str, Any]]:
    """Requests not done by the end of their wanted window: flagged."""
    return _all(await conn.execute(text(
        "UPDATE service_requests SET overdue = true "
        "WHERE (realm, id) IN (SELECT realm, id FROM service_requests "
        "  WHERE state IN ('open', 'dispatched', 'accepted') AND NOT overdue AND wanted_until < :now "
        "  ORDER BY wanted_until LIMIT :limit FOR UPDATE SKIP LOCKED) "
        "AND state IN ('open', 'dispatched', 'accepted') RETURNING realm, id"),
        {"now": now, "limit": limit}))


async def due_confirmations(conn: AsyncConnection, before: datetime, limit: int) -> list[dict[str, Any]]:
    """Requests done before `before` and never confirmed."""
    return _all(await conn.execute(text(
        f"SELECT {_REQUEST_COLUMNS} FROM service_requests WHERE state = 'done' AND done_at < :before "
        "ORDER BY done_at LIMIT :limit"), {"before": before, "limit": limit}))
