"""Activities residents see and join: the upcoming list (their station first, then
their town, then the realm), sign-ups with capacity and waitlist, a resident's own
activities. The venue (check-in, closing) is in api/routes/venue.py."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType
from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.routes.common import Caller, resident_acted_for, services
from earning import errors as earning_errors
from earning.venue import Venue
from ledger import errors

ORGANIZER_LOOKBACK = timedelta(days=1)   # the desk keeps showing today's ended activities


class ActivityOut(msgspec.Struct):
    """An activity as listed (the upcoming list, a resident's activities, a resident
    reading one): the points on offer under the current rule, and the caller's own
    sign-up, check-in and award."""
    realm: str
    id: int
    activity_type: str
    type_name: str
    station_id: int
    station_name: str
    title: str
    starts_at: datetime
    ends_at: datetime
    status: str
    confirmed_count: int
    asset: str
    points_on_offer: int
    rule_version: int
    place: str | None = None
    description: str | None = None
    capacity: int | None = None
    signup_opens_at: datetime | None = None
    signup_closes_at: datetime | None = None
    closed_at: datetime | None = None
    my_signup: str | None = None
    my_points: int | None = None
    my_checked_in_at: datetime | None = None
    my_checked_out_at: datetime | None = None


class ActivitiesOut(msgspec.Struct):
    items: list[ActivityOut]
    next_cursor: str | None


class AttendanceResult(msgspec.Struct, kw_only=True):
    """One attendance record's outcome: awarded (asset, points, entry_id, rule_version,
    replayed: an earlier request awarded it) or refused (error, a problem code); the
    fields of the other outcome are absent."""
    n: int                        # the record's place in the request, from 1
    activity_id: int
    resident_id: int
    error: str | UnsetType = UNSET
    asset: str | UnsetType = UNSET
    points: int | UnsetType = UNSET
    entry_id: int | UnsetType = UNSET
    rule_version: int | UnsetType = UNSET
    replayed: bool | UnsetType = UNSET


class ClosedAttendance(AttendanceResult, kw_only=True):
    """An attendance result of a closing, with who the resident is."""
    display_name: str | None
    code: str | None


class UnpaidCheckin(msgspec.Struct):
    """A check-in closing did not pay: no check-out, or under a minute."""
    resident_id: int
    code: str
    display_name: str | None
    checked_in_at: datetime


class CloseSummary(msgspec.Struct):
    """What closing an activity awarded (kept with the activity)."""
    activity_id: int
    title: str
    awarded: int
    points: int
    results: list[ClosedAttendance]
    no_checkout: list[UnpaidCheckin]
    too_short: list[UnpaidCheckin]


class ActivityRecord(msgspec.Struct):
    """An activity as stored (what its organizers and admins read and write)."""
    realm: str
    id: int
    activity_type: str
    station_id: int
    title: str
    starts_at: datetime
    ends_at: datetime
    created_by: str
    created_at: datetime
    place: str | None
    description: str | None
    capacity: int | None
    signup_opens_at: datetime | None
    signup_closes_at: datetime | None
    status: str                   # draft, published, cancelled or closed
    confirmed_count: int
    closed_at: datetime | None
    close_summary: CloseSummary | None


class ActivityRecordsOut(msgspec.Struct):
    items: list[ActivityRecord]
    next_cursor: str | None


class SignupIn(msgspec.Struct, forbid_unknown_fields=True):
    resident_id: int | None = None     # an organizer names the resident; a resident signs itself up


class SignupOut(msgspec.Struct):
    activity_id: int
    resident_id: int
    status: str                        # confirmed, waitlisted or cancelled
    waitlist_place: int | None = None
    promoted_resident_id: int | None = None


class SignupRow(msgspec.Struct):
    resident_id: int
    status: str
    code: str
    display_name: str | None = None


class SignupsOut(msgspec.Struct):
    activity_id: int
    items: list[SignupRow]


def activity_out(row: dict[str, Any]) -> ActivityOut:
    return msgspec.convert(row, ActivityOut)


def activity_record(row: dict[str, Any]) -> ActivityRecord:
    return msgspec.convert(row, ActivityRecord)


def venue(request: Request) -> Venue:
    return services(request).venue


def parse_day(day: str | None) -> date | None:
    if day is None:
        return None
    try:
        return date.fromisoformat(day)
    except ValueError:
        raise errors.InvalidInput("date is YYYY-MM-DD") from None


async def upcoming_activities(request: Request, principal: Caller, realm: str, activity_type: str | None,
                              day: str | None, cursor: str | None, limit: int | None) -> ActivitiesOut:
    """Residents: published activities to come, nearest places first. Organizers and
    admins: also drafts and those closed in the last day (organizers: their station's)."""
    principal.require(realm, "admin", "organizer", "resident")
    now = datetime.now(timezone.utc)
    query: dict[str, Any] = {"realm": realm, "activity_type": activity_type, "day": parse_day(day),
                             "statuses": ("published",), "ended_since": now}
    if principal.role == "resident":
        resident = await services(request).earning.resident(principal.resident_id)
        query.update(station_id=resident["station_id"], resident_id=resident["id"])
    else:
        query.update(statuses=("draft", "published", "closed"), ended_since=now - ORGANIZER_LOOKBACK,
                     station_id=principal.station_id, only_station=principal.station_id)
    page = await services(request).earning.upcoming(query, cursor, limit)
    return ActivitiesOut(items=[activity_out(row) for row in page.items], next_cursor=page.next_cursor)


async def visible_activity(request: Request, principal: Caller, activity_id: int) -> dict[str, Any]:
    """An activity a resident may see and join: published, closed or cancelled, of its realm."""
    activity = await services(request).earning.activity(activity_id)
    principal.require_realm(activity["realm"])
    if principal.role == "resident" and activity["status"] == "draft":
        raise earning_errors.ActivityNotFound(f"no activity {activity_id}")
    return activity


async def station_activity(request: Request, principal: Caller, activity_id: int) -> dict[str, Any]:
    """An activity an organizer runs (its station's) or an admin of its realm."""
    activity = await services(request).earning.activity(activity_id)
    principal.require(activity["realm"], "admin", "organizer")
    if principal.role == "organizer" and principal.station_id not in (None, activity["station_id"]):
        raise errors.Forbidden(f"this token is scoped to station {principal.station_id}")
    return activity


class SignupsController(Controller):
    """Sign-ups (a seat, else the waitlist) and a resident's own activities."""
    path = "/v1"
    tags = ["activities"]

    @post("/activities/{activity_id:int}/signups", status_code=201)
    async def sign_up(self, request: Request, principal: Caller, activity_id: FromPath[int],
                      data: JSONBody[SignupIn]) -> SignupOut:
        activity = await visible_activity(request, principal, activity_id)
        realm, resident_id = await resident_acted_for(request, principal, data.resident_id)
        if realm != activity["realm"]:
            raise errors.Forbidden("a resident signs up in its own realm")
        return msgspec.convert(await venue(request).sign_up(activity, resident_id, principal.actor), SignupOut)

    @delete("/activities/{activity_id:int}/signups/{resident_id:int}", status_code=200)
    async def cancel_signup(self, request: Request, principal: Caller, activity_id: FromPath[int],
                            resident_id: FromPath[int]) -> SignupOut:
        activity = await visible_activity(request, principal, activity_id)
        await resident_acted_for(request, principal, resident_id)
        return msgspec.convert(await venue(request).cancel_signup(activity, resident_id), SignupOut)

    @get("/activities/{activity_id:int}/signups")
    async def list_signups(self, request: Request, principal: Caller, activity_id: FromPath[int]) -> SignupsOut:
        activity = await station_activity(request, principal, activity_id)
        rows = await venue(request).signups(activity)
        return SignupsOut(activity_id=activity_id, items=msgspec.convert(rows, list[SignupRow]))

    @get("/residents/{resident_id:int}/activities")
    async def resident_activities(self, request: Request, principal: Caller, resident_id: FromPath[int],
                                  cursor: FromQuery[str | None] = None,
                                  limit: FromQuery[int | None] = None) -> ActivitiesOut:
        """My activities: signed up, checked in or awarded, newest first, each with its award."""
        from api.routes.earning import readable_resident

        resident = await readable_resident(request, principal, resident_id)
        page = await services(request).earning.resident_activities(resident, cursor, limit)
        return ActivitiesOut(items=[activity_out(row) for row in page.items], next_cursor=page.next_cursor)


ROUTES = [SignupsController]
