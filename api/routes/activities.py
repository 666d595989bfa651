"""Activities residents see and join: the upcoming list (their station first, then
their town, then the realm), sign-ups with capacity and waitlist, a resident's own
activities. The venue (check-in, closing) is in api/routes/venue.py."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType
from litestar import Controller, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.auth import roles
from api.errors import problems
from api.routes.common import PAGING, Caller, ItemsPage, Service, acting_for, decoded, shaped
from earning import errors as earning_errors
from earning.service import Earning
from earning.venue import Venue
from ledger import errors as ledger_errors

ORGANIZER_LOOKBACK = timedelta(days=1)   # the desk keeps showing today's ended activities


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


class Activity(msgspec.Struct):
    """An activity. As stored (organizers, admins, auditors; writes answer it so): with
    created_by, created_at and close_summary. As listed (the upcoming list, a resident's
    activities, a resident reading one): with its type's and station's names, the points
    on offer under the current rule, and the caller's own sign-up, check-in and award.
    The fields of the other view are absent."""
    realm: str
    id: int
    activity_type: str
    station_id: int
    title: str
    starts_at: datetime
    ends_at: datetime
    place: str | None
    description: str | None
    capacity: int | None              # None: no limit
    signup_opens_at: datetime | None
    signup_closes_at: datetime | None  # None: when it starts
    status: str                       # draft, published, cancelled or closed
    confirmed_count: int
    closed_at: datetime | None
    # as stored
    created_by: str | UnsetType = UNSET
    created_at: datetime | UnsetType = UNSET
    close_summary: CloseSummary | None | UnsetType = UNSET
    # as listed
    type_name: str | UnsetType = UNSET
    station_name: str | UnsetType = UNSET
    asset: str | UnsetType = UNSET
    points_on_offer: int | UnsetType = UNSET
    rule_version: int | UnsetType = UNSET
    my_signup: str | None | UnsetType = UNSET
    my_points: int | None | UnsetType = UNSET
    my_checked_in_at: datetime | None | UnsetType = UNSET
    my_checked_out_at: datetime | None | UnsetType = UNSET


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


def activity_of(row: dict[str, Any]) -> Activity:
    """A stored or listed activity row; a closed one's summary (JSON) decoded in full."""
    return decoded(Activity, row) if row.get("close_summary") is not None else shaped(Activity, row)


def parse_day(day: str | None) -> date | None:
    if day is None:
        return None
    try:
        return date.fromisoformat(day)
    except ValueError:
        raise ledger_errors.InvalidInput("date is YYYY-MM-DD") from None


async def upcoming_activities(earning: Earning, principal: Caller, realm: str, activity_type: str | None,
                              day: str | None, cursor: str | None, limit: int | None) -> ItemsPage[Activity]:
    """Residents: published activities to come, nearest places first. Organizers and
    admins: also drafts and those closed in the last day (organizers: their station's)."""
    principal.require(realm, "admin", "organizer", "resident")
    now = datetime.now(timezone.utc)
    query: dict[str, Any] = {"realm": realm, "activity_type": activity_type, "day": parse_day(day),
                             "statuses": ("published",), "ended_since": now}
    if principal.role == "resident":
        resident = await earning.resident(principal.resident_id)
        query.update(station_id=resident["station_id"], resident_id=resident["id"])
    else:
        query.update(statuses=("draft", "published", "closed"), ended_since=now - ORGANIZER_LOOKBACK,
                     station_id=principal.station_id, only_station=principal.station_id)
    page = await earning.upcoming(query, cursor, limit)
    return ItemsPage([activity_of(row) for row in page.items], page.next_cursor)


async def visible_activity(earning: Earning, principal: Caller, activity_id: int) -> dict[str, Any]:
    """An activity a resident may see and join: published, closed or cancelled, of its realm."""
    activity = await earning.activity(activity_id)
    principal.require_realm(activity["realm"])
    if principal.role == "resident" and activity["status"] == "draft":
        raise earning_errors.ActivityNotFound(f"no activity {activity_id}")
    return activity


async def station_activity(earning: Earning, principal: Caller, activity_id: int) -> dict[str, Any]:
    """An activity an organizer runs (its station's) or an admin of its realm."""
    activity = await earning.activity(activity_id)
    principal.require(activity["realm"], "admin", "organizer")
    if principal.role == "organizer" and principal.station_id not in (None, activity["station_id"]):
        raise ledger_errors.Forbidden(f"this token is scoped to station {principal.station_id}")
    return activity


SIGNUP = (earning_errors.ActivityNotFound, earning_errors.ResidentNotFound, ledger_errors.InvalidInput)


class SignupsController(Controller):
    """Sign-ups (a seat, else the waitlist) and a resident's own activities."""
    path = "/v1"
    tags = ["activities"]

    @post("/activities/{activity_id:int}/signups", status_code=201, guards=[roles("resident", "organizer")],
          responses=problems(SIGNUP, earning_errors.UnknownResident, earning_errors.ActivityNotOpen,
                             earning_errors.SignupClosed, earning_errors.ActivityFull))
    async def sign_up(self, earning: Service[Earning], venue: Service[Venue], principal: Caller,
                      activity_id: FromPath[int], data: JSONBody[SignupIn]) -> SignupOut:
        """A seat if one is free, else a place on the waitlist; signing up again answers the
        same sign-up. A resident signs itself up, an organizer names the resident."""
        activity = await visible_activity(earning, principal, activity_id)
        realm, resident_id = await acting_for(earning, principal, data.resident_id)
        if realm != activity["realm"]:
            raise ledger_errors.Forbidden("a resident signs up in its own realm")
        return shaped(SignupOut, await venue.sign_up(activity, resident_id, principal.actor))

    @delete("/activities/{activity_id:int}/signups/{resident_id:int}", status_code=200,
            guards=[roles("resident", "organizer")],
            responses=problems(SIGNUP, earning_errors.SignupNotFound, earning_errors.ActivityClosed))
    async def cancel_signup(self, earning: Service[Earning], venue: Service[Venue], principal: Caller,
                            activity_id: FromPath[int], resident_id: FromPath[int]) -> SignupOut:
        """Cancel; a freed seat goes to the first on the waitlist (`promoted_resident_id`)."""
        activity = await visible_activity(earning, principal, activity_id)
        await acting_for(earning, principal, resident_id)
        return shaped(SignupOut, await venue.cancel_signup(activity, resident_id))

    @get("/activities/{activity_id:int}/signups", guards=[roles("admin", "organizer")],
         responses=problems(earning_errors.ActivityNotFound))
    async def list_signups(self, earning: Service[Earning], venue: Service[Venue], principal: Caller,
                           activity_id: FromPath[int]) -> SignupsOut:
        activity = await station_activity(earning, principal, activity_id)
        rows = await venue.signups(activity)
        return SignupsOut(activity_id=activity_id, items=[shaped(SignupRow, row) for row in rows])

    @get("/residents/{resident_id:int}/activities", responses=problems(earning_errors.ResidentNotFound, PAGING))
    async def resident_activities(self, earning: Service[Earning], principal: Caller, resident_id: FromPath[int],
                                  cursor: FromQuery[str | None] = None,
                                  limit: FromQuery[int | None] = None) -> ItemsPage[Activity]:
        """My activities: signed up, checked in or awarded, newest first, each with its award."""
        from api.routes.earning import resident_for

        resident = await resident_for(earning, principal, resident_id)
        page = await earning.resident_activities(resident, cursor, limit)
        return ItemsPage([activity_of(row) for row in page.items], page.next_cursor)


ROUTES = [SignupsController]
