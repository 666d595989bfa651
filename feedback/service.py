"""Feedback's services: ratings feed running totals; a total that falls below 3 (on
enough ratings) alerts the responsible organizer once per crossing.

Whether a resident attended an activity, and the activity itself, the route passes in
(earning owns them); the database checks attendance again when the rating goes in
(feedback/sql/ratings_check_subject.sql)."""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from feedback import errors, model, repository
from ledger import db, idempotency, paging
from ledger.paging import Page


class Feedback:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def rate_activity(self, activity: dict[str, Any], rater_id: int, attended: bool, rating: Any,
                            comment: str | None, ratings_min: int) -> dict[str, Any]:
        """A resident who attended rates the activity, once. The same rating again answers
        the first (`replayed`); another is refused, `already_rated`."""
        rating, comment = model.check_rating(rating), model.check_comment(comment)
        realm = activity["realm"]

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            earlier = await repository.my_rating(conn, realm, "activity", activity["id"], rater_id)
            if earlier is not None:
                if (earlier["rating"], earlier["comment"]) != (rating, comment):
                    raise errors.AlreadyRated("this activity is already rated by this resident")
                return idempotency.replayed(earlier)
            if not attended:
                raise errors.ActivityNotAttended("only who attended (checked in, or was awarded) rates it",
                                                 activity_id=activity["id"])
            row = await repository.insert_rating(conn, realm, "activity", activity["id"],
                                                 rater_id, rating, comment)
            await _count(conn, realm, model.activity_subjects(activity), rating, ratings_min)
            return idempotency.fresh(row)

        # a twin rating committed first: the second attempt answers it
        return await idempotency.once(lambda: db.in_transaction(self.engine, work), errors.AlreadyRated)

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

    async def averages(self, realm: str, kind: str | None, key: str | None, cursor: str | None,
                       limit: int | None) -> Page:
        model.check_average_query(kind)
        after, size = model.decode_averages_cursor(cursor), paging.check_page_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.totals(
            conn, realm, kind, key, after, paging.fetch_size(size)))
        items = [{**row, "average": model.average(row["ratings"], row["total"])} for row in rows]
        return paging.page_of(items, size, model.averages_cursor)

    async def alerts(self, realm: str, station_id: int | None, open_only: bool, cursor: str | None,
                     limit: int | None) -> Page:
        before, size = model.ALERTS.decode(cursor), paging.check_page_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.alerts_page(
            conn, realm, station_id, open_only, before, paging.fetch_size(size)))
        return paging.page_of(rows, size, model.ALERTS.after("id"))

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

