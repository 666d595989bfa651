"""Feedback over HTTP: a resident who attended rates an activity once; averages per
activity, activity type, organizer, volunteer and station; alerts to organizers (an
average fallen below 3, a service request rated 1 or 2) and their acknowledgement."""
from __future__ import annotations

from datetime import datetime

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.auth import Principal, roles
from api.errors import problems
from api.routes.common import (PAGING, Caller, IdempotencyKey, ItemsPage, Service, replayable,
                               required_idempotency_key, shaped)
from earning import errors as earning_errors
from earning.service import Earning
from feedback import errors as feedback_errors
from feedback.service import Feedback
from ledger import errors
from orders.service import Orders


class RatingIn(msgspec.Struct, forbid_unknown_fields=True):
    rating: int
    comment: str | None = None


class RatingOut(msgspec.Struct):
    subject_kind: str
    subject_id: int
    rater_id: int
    rating: int
    created_at: datetime
    comment: str | None = None


class AverageOut(msgspec.Struct):
    subject_kind: str
    subject_key: str
    ratings: int
    total: int
    below: bool
    updated_at: datetime
    average: float | None = None


class AlertOut(msgspec.Struct):
    realm: str
    id: int
    kind: str                    # average_below or low_rating
    subject_kind: str
    subject_key: str
    ratings: int
    total: int
    created_at: datetime
    station_id: int | None = None
    recipient: str | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None


class AlertCountOut(msgspec.Struct):
    open: int


def desk_station(principal: Principal, realm: str, station_id: int | None) -> int | None:
    """Alerts are read by organizers (a station's only its station's), admins and auditors."""
    principal.require(realm, "admin", "organizer", "auditor")
    return principal.station_id if principal.station_id is not None else station_id


class ActivityRatingController(Controller):
    path = "/v1/activities/{activity_id:int}/ratings"
    tags = ["feedback"]

    @post(status_code=201, guards=[roles("resident")],
          summary="Rate an attended activity once, 1 to 5 (a resident who checked in or was awarded)",
          responses=problems(earning_errors.ActivityNotFound, feedback_errors.RatingOutOfRange,
                             feedback_errors.InvalidComment, feedback_errors.ActivityNotAttended,
                             feedback_errors.AlreadyRated, feedback_errors.RatingNotAllowed))
    async def rate_activity(self, earning: Service[Earning], feedback: Service[Feedback], orders: Service[Orders],
                            principal: Caller, activity_id: FromPath[int], data: JSONBody[RatingIn],
                            idempotency_key: IdempotencyKey = None) -> Response[RatingOut]:
        """The same rating again answers the first (`Idempotent-Replayed: true`)."""
        required_idempotency_key(idempotency_key)
        activity = await earning.activity(activity_id)
        principal.require_realm(activity["realm"])
        resident_id = principal.resident_id
        listed = await earning.listed_activity(activity, resident_id)
        attended = bool(listed.get("my_points")) or listed.get("my_checked_in_at") is not None
        ratings_min = (await orders.settings(activity["realm"])).alert_ratings_min
        row = await feedback.rate_activity(activity, resident_id, attended, data.rating, data.comment, ratings_min)
        return replayable(shaped(RatingOut, row), row["replayed"])


class AveragesController(Controller):
    path = "/v1/ratings/averages"
    tags = ["feedback"]

    @get(summary="Average ratings per activity, activity type, organizer, volunteer or station",
         guards=[roles("admin", "organizer", "auditor")],
         responses=problems(PAGING, feedback_errors.InvalidAverageQuery))
    async def rating_averages(self, feedback: Service[Feedback], principal: Caller, realm: FromQuery[str],
                              kind: FromQuery[str | None] = None, key: FromQuery[str | None] = None,
                              cursor: FromQuery[str | None] = None,
                              limit: FromQuery[int | None] = None) -> ItemsPage[AverageOut]:
        principal.require_realm(realm)
        page = await feedback.averages(realm, kind, key, cursor, limit)
        return ItemsPage([shaped(AverageOut, row) for row in page.items], page.next_cursor)


class AlertController(Controller):
    path = "/v1/alerts"
    tags = ["feedback"]

    @get(summary="Alerts for the organizer's desk: averages fallen below 3, requests rated 1 or 2",
         guards=[roles("admin", "organizer", "auditor")], responses=problems(PAGING))
    async def list_alerts(self, feedback: Service[Feedback], principal: Caller, realm: FromQuery[str],
                          station_id: FromQuery[int | None] = None, open: FromQuery[bool] = False,
                          cursor: FromQuery[str | None] = None,
                          limit: FromQuery[int | None] = None) -> ItemsPage[AlertOut]:
        station_id = desk_station(principal, realm, station_id)
        page = await feedback.alerts(realm, station_id, open, cursor, limit)
        return ItemsPage([shaped(AlertOut, row) for row in page.items], page.next_cursor)

    @get("/count", summary="How many alerts are not acknowledged yet (the desk's badge)",
         guards=[roles("admin", "organizer", "auditor")])
    async def count_alerts(self, feedback: Service[Feedback], principal: Caller, realm: FromQuery[str],
                           station_id: FromQuery[int | None] = None) -> AlertCountOut:
        station_id = desk_station(principal, realm, station_id)
        return AlertCountOut(await feedback.open_alerts(realm, station_id))

    @post("/{alert_id:int}/acknowledge", status_code=200, guards=[roles("organizer", "admin")],
          summary="Acknowledge an alert (once; again changes nothing)",
          responses=problems(feedback_errors.AlertNotFound))
    async def acknowledge_alert(self, feedback: Service[Feedback], principal: Caller, alert_id: FromPath[int],
                                idempotency_key: IdempotencyKey = None) -> AlertOut:
        required_idempotency_key(idempotency_key)
        alert = await feedback.alert(alert_id)
        principal.require_realm(alert["realm"])
        if principal.station_id is not None and alert["station_id"] != principal.station_id:
            raise errors.Forbidden(f"this token is scoped to station {principal.station_id}")
        return shaped(AlertOut, await feedback.acknowledge(alert, principal.actor))


ROUTES = [ActivityRatingController, AveragesController, AlertController]
