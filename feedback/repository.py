"""SQL for feedback. Every function runs inside the caller's connection/transaction."""
from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from feedback import model


def _one(row: Any) -> dict[str, Any] | None:
    return dict(row._mapping) if row is not None else None


def _all(result: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in result]


async def insert_rating(conn: AsyncConnection, realm: str, subject_kind: str, subject_id: int,
                        rater_id: int, rating: int, comment: str | None) -> dict[str, Any]:
    row = (await conn.execute(text(
        "INSERT INTO ratings (realm, subject_kind, subject_id, rater_id, rating, comment) "
        "VALUES (:realm, :kind, :subject, :rater, :rating, :comment) "
        "RETURNING realm, subject_kind, subject_id, rater_id, rating, comment, created_at"),
        {"realm": realm, "kind": subject_kind, "subject": subject_id, "rater": rater_id, "rating": rating,
         "comment": comment})).one()
    return dict(row._mapping)


async def add_to_total(conn: AsyncConnection, realm: str, subject: model.Subject, rating: int) -> dict[str, Any]:
    """The subject's running total with this rating in (its row stays locked till commit,
    so concurrent ratings of one subject see each other's crossings)."""
    row = (await conn.execute(text(
        "INSERT INTO rating_totals (realm, subject_kind, subject_key, ratings, total) "
        "VALUES (:realm, :kind, :key, 1, :rating) ON CONFLICT (realm, subject_kind, subject_key) DO UPDATE "
        "SET ratings = rating_totals.ratings + 1, total = rating_totals.total + EXCLUDED.total, updated_at = now() "
        "RETURNING ratings, total, below"),
        {"realm": realm, "kind": subject.kind, "key": subject.key, "rating": rating})).one()
    return dict(row._mapping)


async def set_below(conn: AsyncConnection, realm: str, subject: model.Subject, below: bool) -> None:
    await conn.execute(text(
        "UPDATE rating_totals SET below = :below WHERE realm = :realm AND subject_kind = :kind "
        "AND subject_key = :key"), {"realm": realm, "kind": subject.kind, "key": subject.key, "below": below})


async def insert_alert(conn: AsyncConnection, realm: str, kind: str, subject: model.Subject,
                       ratings: int, total: int) -> None:
    await conn.execute(text(
        "INSERT INTO alerts (realm, kind, station_id, recipient, subject_kind, subject_key, ratings, total) "
        "VALUES (:realm, :kind, :station, :recipient, :subject_kind, :subject_key, :ratings, :total)"),
        {"realm": realm, "kind": kind, "station": subject.station_id, "recipient": subject.recipient,
         "subject_kind": subject.kind, "subject_key": subject.key, "ratings": ratings, "total": total})


async def totals(conn: AsyncConnection, realm: str, kind: str | None, key: str | None,
                 after: tuple[str, str] | None, limit: int) -> list[dict[str, Any]]:
    """Running totals in (subject kind, subject key) order, after `after`, along the key."""
    after_kind, after_key = after if after is not None else (None, None)
    return _all(await conn.execute(text(
        "SELECT subject_kind, subject_key, ratings, total, below, updated_at FROM rating_totals "
        "WHERE realm = :realm AND (CAST(:kind AS text) IS NULL OR subject_kind = :kind) "
        "AND (CAST(:key AS text) IS NULL OR subject_key = :key) "
        "AND (CAST(:after_kind AS text) IS NULL OR (subject_kind, subject_key) > (:after_kind, :after_key)) "
        "ORDER BY subject_kind, subject_key LIMIT :limit"),
        {"realm": realm, "kind": kind, "key": key, "after_kind": after_kind, "after_key": after_key,
         "limit": limit}))


_ALERT_COLUMNS = ("realm, id, kind, station_id, recipient, subject_kind, subject_key, ratings, total, "
                  "created_at, acknowledged_at, acknowledged_by")


async def alerts_page(conn: AsyncConnection, realm: str, station_id: int | None, open_only: bool,
                      before_id: int | None, limit: int) -> list[dict[str, Any]]:
    return _all(await conn.execute(text(
        f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE realm = :realm "
        "AND (CAST(:station AS bigint) IS NULL OR station_id = :station) "
        "AND (NOT :open_only OR acknowledged_at IS NULL) "
        "AND (CAST(:before AS bigint) IS NULL OR id < :before) ORDER BY id DESC LIMIT :limit"),
        {"realm": realm, "station": station_id, "open_only": open_only, "before": before_id, "limit": limit}))


async def open_alert_count(conn: AsyncConnection, realm: str, station_id: int | None) -> int:
    return (await conn.execute(text(
        "SELECT count(*) FROM alerts WHERE realm = :realm AND acknowledged_at IS NULL "
        "AND (CAST(:station AS bigint) IS NULL OR station_id = :station)"),
        {"realm": realm, "station": station_id})).scalar_one()


async def find_alert(conn: AsyncConnection, alert_id: int) -> dict[str, Any] | None:
    return _one((await conn.execute(text(f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id = :id"),
                                    {"id": alert_id})).first())


async def acknowledge(conn: AsyncConnection, realm: str, alert_id: int, by: str) -> dict[str, Any]:
    """Acknowledged once; acknowledging again changes nothing."""
    await conn.execute(text(
        "UPDATE alerts SET acknowledged_at = now(), acknowledged_by = :by "
        "WHERE realm = :realm AND id = :id AND acknowledged_at IS NULL"),
        {"realm": realm, "id": alert_id, "by": by})
    row = (await conn.execute(text(f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE realm = :realm AND id = :id"),
                              {"realm": realm, "id": alert_id})).one()
    return dict(row._mapping)


async def my_rating(conn: AsyncConnection, realm: str, subject_kind: str, subject_id: int,
                    rater_id: int) -> dict[str, Any] | None:
    return _one((await conn.execute(text(
        "SELECT realm, subject_kind, subject_id, rater_id, rating, comment, created_at FROM ratings "
        "WHERE realm = :realm AND subject_kind = :kind "
        "AND subject_id = :subject AND rater_id = :rater"),
        {"realm": realm, "kind": subject_kind, "subject": subject_id, "rater": rater_id})).first())
