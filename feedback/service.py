"""Feedback's services: ratings feed running totals; a total that falls below 3 (on
enough ratings) alerts the responsible organizer once per crossing.

Whether a resident attended an activity, and the activity itself, the route passes in
(earning owns them); the database checks attendance again when the rating goes in
(feedback/sql/ratings_check_subject.sql)."""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from feedback import errors, model, repository
from ledger import db
from ledger import errors as ledger_errors
from ledger import model as ledger_model
from ledger.service import Page


class Feedback:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def rate_activity(self, activity: dict[str, Any], rater_id: int, attended: bool, rating: Any,
                            comment: str | None, ratings_min: int) -> dict[str, Any]:
        """A resident who attended rates the activity, once."""
        rating, comment = model.check_rating(rating), model.check_comment(comment)
        if not attended:
            raise errors.ActivityNotAttended("only who attended (checked in, or was awarded) rates it",
                                             activity_id=activity["id"])

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            if await repository.my_rating(conn, activity["realm"], "activity", activity["id"], rater_id):
                raise errors.AlreadyRated("this activity is already rated by this resident")
            row = await repository.insert_rating(conn, activity["realm"], "activity", activity["id"],
                                                 rater_id, rating, comment)
            await _count(conn, activity["realm"], model.activity_subjects(activity), rating, ratings_min)
            return row

        return await db.in_transaction(self.engine, work)

    @staticmethod
    async def rate_request_in(conn: AsyncConnection, request: dict[str, Any], ratings_min: int) -> None:
        """A confirmed request's rating, in the confirming transaction: it counts for the
        volunteer, the station and the dispatcher; a 1 or 2 alerts the dispatcher."""
        rating = model.check_rating(request["rating"])
        realm = request["realm"]
        await repository.insert_rating(conn, realm, "service_request", request["id"], request["requester_id"],
                                       rating, request["comment"])
        subjects = model.request_subjects(request)
        await _count(conn, realm, subjects, rating, ratings_min)
        if rating <= model.LOW_RATING_MAX:
            low = model.Subject("service_request", str(request["id"]), request["station_id"],
                                request.get("dispatched_by"))
            await repository.insert_alert(conn, realm, "low_rating", low, 1, rating)

    async def my_rating(self, realm: str, subject_kind: str, subject_id: int, rater_id: int) -> dict[str, Any] | None:
        return await db.read(self.engine, lambda conn: repository.my_rating(
            conn, realm, subject_kind, subject_id, rater_id))

    async def averages(self, realm: str, kind: str | None, key: str | None, cursor: str | None,
                       limit: int | None) -> Page:
        model.check_average_query(kind)
        size = ledger_model.check_page_size(limit)
        after = _decode_key_cursor(cursor)
        rows = await db.read(self.engine, lambda conn: repository.totals(conn, realm, kind, key, after, size))
        items = [{**row, "average": model.average(row["ratings"], row["total"])} for row in rows]
        last = f"{rows[-1]['subject_kind']}:{rows[-1]['subject_key']}" if len(rows) == size else None
        return Page(items, _encode_key_cursor(last) if last else None)

    async def alerts(self, realm: str, station_id: int | None, open_only: bool, cursor: str | None,
                     limit: int | None) -> Page:
        before, size = model.decode_cursor(cursor), ledger_model.check_page_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.alerts_page(
            conn, realm, station_id, open_only, before, size))
        return Page(rows, model.encode_cursor(rows[-1]["id"]) if len(rows) == size else None)

    async def open_alerts(self, realm: str, station_id: int | None) -> int:
        return await db.read(self.engine, lambda conn: repository.open_alert_count(conn, realm, station_id))

    async def alert(self, alert_id: int) -> dict[str, Any]:
        found = await db.read(self.engine, lambda conn: repository.find_alert(conn, alert_id))
        if found is None:
            raise errors.AlertNotFound(f"no alert {alert_id}")
        return found

    async def acknowledge(self, alert: dict[str, Any], by: str) -> dict[str, Any]:
        return await db.in_transaction(self.engine, lambda conn: repository.acknowledge(
            conn, alert["realm"], alert["id"], by))


async def _count(conn: AsyncConnection, realm: str, subjects: list[model.Subject], rating: int,
                 ratings_min: int) -> None:
    """Add the rating to each subject's total (in a fixed order: rows lock alike in every
    transaction); alert where an alerting subject crossed below 3."""
    for subject in sorted(subjects, key=lambda s: (s.kind, s.key)):
        total = await repository.add_to_total(conn, realm, subject, rating)
        below = model.is_below(total["ratings"], total["total"], ratings_min)
        if below != total["below"]:
            await repository.set_below(conn, realm, subject, below)
        if subject.kind in model.ALERTING_KINDS and model.crossed(total["below"], below):
            await repository.insert_alert(conn, realm, "average_below", subject, total["ratings"], total["total"])


def _encode_key_cursor(last: str) -> str:
    return "k1." + last.encode().hex()


def _decode_key_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        if not cursor.startswith("k1."):
            raise ValueError
        return bytes.fromhex(cursor[3:]).decode()
    except (ValueError, UnicodeDecodeError):
        raise ledger_errors.InvalidCursor("this cursor was not given by this list") from None
