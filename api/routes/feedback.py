"""Feedback over HTTP: a resident who attended rates an activity once; averages per
activity, activity type, organizer, volunteer and station; alerts to organizers (an
average fallen below 3, a service request rated 1 or 2) and their acknowledgement."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.auth import Principal
from api.routes.common import Caller, IdempotencyKey, required_idempotency_key, services
from ledger.idempotency import REPLAYED_HEADER
from feedback import errors as feedback_errors
from ledger import errors


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


class AveragesOut(msgspec.Struct):
    items: list[AverageOut]
    next_cursor: str | None


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


class AlertsOut(msgspec.Struct):
    items: list[AlertOut]
    next_cursor: str | None


class AlertCountOut(msgspec.Struct):
    open: int


def _shaped(row: dict[str, Any], shape: type) -> Any:
    return msgspec.convert({k: v for k, v in row.items() if k in shape.__struct_fields__}, shape)


def desk_station(principal: Principal, realm: str, station_id: int | None) -> int | None:
    """Alerts are read by organizers (a station's only its station's), admins and auditors."""
    principal.require(realm, "admin", "organizer", "auditor")
    return principal.station_id if principal.station_id is not None else station_id


class ActivityRatingController(Controller):
    path = "/v1/activities/{activity_id:int}/ratings"
    tags = ["feedback"]

    @post(status_code=201, summary="Rate an attended activity once, 1 to 5 (a resident who checked in or was awarded)")
    async def rate(self, request: Request, principal: Caller, activity_id: FromPath[int], data: JSONBody[RatingIn],
                   idempotency_key: IdempotencyKey = None) -> Response[RatingOut]:
        required_idempotency_key(idempotency_key)
        principal.require_role("resident")
        activity = await services(request).earning.activity(activity_id)
        principal.require_realm(activity["realm"])
        resident_id = principal.resident_id
        feedback = services(request).feedback
        earlier = await feedback.my_rating(activity["realm"], "activity", activity_id, resident_id)
        if earlier is not None:
            if (earlier["rating"], earlier["comment"]) != (data.rating, data.comment):
                raise feedback_errors.AlreadyRated("this activity is already rated by this resident")
            row = {**earlier, "subject_kind": "activity", "subject_id": activity_id, "rater_id": resident_id}
            return Response(_shaped(row, RatingOut), status_code=201, headers={REPLAYED_HEADER: "true"})
        listed = await services(request).earning.listed_activity(activity, resident_id)
        attended = bool(listed.get("my_points")) or listed.get("my_checked_in_at") is not None
        ratings_min = (await services(request).orders.settings(activity["realm"])).alert_ratings_min
        row = await feedback.rate_activity(activity, resident_id, attended, data.rating, data.comment, ratings_min)
        return Response(_shaped(row, RatingOut), status_code=201)


class AveragesController(Controller):
    path = "/v1/ratings/averages"
    tags = ["feedback"]

    @get(summary="Average ratings per activity, activity type, organizer, volunteer or station")
    async def averages(self, request: Request, principal: Caller, realm: FromQuery[str],
                       kind: FromQuery[str | None] = None, key: FromQuery[str | None] = None,
                       cursor: FromQuery[str | None] = None, limit: FromQuery[int | None] = None) -> AveragesOut:
        principal.require(realm, "admin", "organizer", "auditor")
        page = await services(request).feedback.averages(realm, kind, key, cursor, limit)
        return AveragesOut([_shaped(row, AverageOut) for row in page.items], page.next_cursor)


class AlertController(Controller):
    path = "/v1/alerts"
    tags = ["feedback"]

    @get(summary="Alerts for the organizer's desk: averages fallen below 3, requests rated 1 or 2")
    async def list(self, request: Request, principal: Caller, realm: FromQuery[str],
                   station_id: FromQuery[int | None] = None, open: FromQuery[bool] = False,
                   cursor: FromQuery[str | None] = None, limit: FromQuery[int | None] = None) -> AlertsOut:
        station_id = desk_station(principal, realm, station_id)
        page = await services(request).feedback.alerts(realm, station_id, open, cursor, limit)
        return AlertsOut([_shaped(row, AlertOut) for row in page.items], page.next_cursor)

    @get("/count", summary="How many alerts are not acknowledged yet (the desk's badge)")
    async def count(self, request: Request, principal: Caller, realm: FromQuery[str],
                    station_id: FromQuery[int | None] = None) -> AlertCountOut:
        station_id = desk_station(principal, realm, station_id)
        return AlertCountOut(await services(request).feedback.open_alerts(realm, station_id))

    @post("/{alert_id:int}/acknowledge", status_code=200, summary="Acknowledge an alert (once; again changes nothing)")
    async def acknowledge(self, request: Request, principal: Caller, alert_id: FromPath[int],
                          idempotency_key: IdempotencyKey = None) -> AlertOut:
        required_idempotency_key(idempotency_key)
        principal.require_role("organizer", "admin")
        alert = await services(request).feedback.alert(alert_id)
        principal.require_realm(alert["realm"])
        if principal.station_id is not None and alert["station_id"] != principal.station_id:
            raise errors.Forbidden(f"this token is scoped to station {principal.station_id}")
        return _shaped(await services(request).feedback.acknowledge(alert, principal.actor), AlertOut)


ROUTES = [ActivityRatingController, AveragesController, AlertController]
