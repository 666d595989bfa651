"""The venue: the desk's rotating check-in code, residents scanning it (first scan in,
second out), the organizer checking a resident in by the resident's code, the live list
of who is in, and closing the activity (awards attendance once)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import FromPath, JSONBody

from api.auth import roles
from api.errors import problems
from api.routes.activities import CloseSummary, station_activity
from api.routes.common import Caller, Service, decoded, shaped
from earning import errors as earning_errors
from earning.service import Earning
from earning.venue import Venue
from ledger import errors
from ledger.qr import qr_png


class CodeOut(msgspec.Struct):
    code: str
    refresh_s: int           # fetch a new one this often
    expires_at: datetime
    activity_id: int | None = None
    resident_id: int | None = None


class CheckinIn(msgspec.Struct, forbid_unknown_fields=True):
    code: str                      # the desk's code, as scanned
    activity_id: int | None = None # the activity the resident means to check in to
    direction: str | None = None   # in or out; none: first scan in, second out


class DeskCheckinIn(msgspec.Struct, forbid_unknown_fields=True):
    resident_code: str             # the resident's personal code (scanned) or own code (typed)
    direction: str | None = None


class CheckinOut(msgspec.Struct):
    activity_id: int
    resident_id: int
    checked_in_at: datetime
    checked_out_at: datetime | None = None
    minutes: int | None = None
    action: str | None = None      # in or out, for a scan
    title: str | None = None
    code: str | None = None
    display_name: str | None = None


class CheckinsOut(msgspec.Struct):
    activity_id: int
    items: list[CheckinOut]


class CloseOut(CloseSummary):
    replayed: bool                 # closed before: the first summary again


def checkin_out(row: dict[str, Any]) -> CheckinOut:
    return shaped(CheckinOut, row)


async def own_code(earning: Earning, venue: Venue, principal: Caller, resident_id: int) -> dict[str, Any]:
    if principal.role != "resident" or principal.resident_id != resident_id:
        raise errors.Forbidden("only the resident shows its own code")
    return await venue.personal_code(await earning.resident(resident_id))


def qr_response(code: str) -> Response[bytes]:
    return Response(qr_png(code), media_type="image/png", headers={"Cache-Control": "no-store"})


DESK_CODE = (earning_errors.ActivityNotFound, earning_errors.CheckinOutsideWindow, earning_errors.ActivityNotOpen)
CHECK_IN = (earning_errors.CheckinCodeInvalid, earning_errors.CheckinCodeExpired, earning_errors.CheckinOtherRealm,
            earning_errors.ActivityNotOpen, earning_errors.CheckinOutsideWindow, earning_errors.AlreadyCheckedIn,
            earning_errors.AlreadyCheckedOut, earning_errors.NotCheckedIn, errors.InvalidInput)


class VenueController(Controller):
    """The desk's rotating code, check-in and out, who is in, closing."""
    path = "/v1"
    tags = ["venue"]

    @get("/activities/{activity_id:int}/checkin-code", guards=[roles("admin", "organizer")],
         responses=problems(DESK_CODE))
    async def checkin_code(self, earning: Service[Earning], venue: Service[Venue], principal: Caller,
                           activity_id: FromPath[int]) -> CodeOut:
        """For the desk's screen: a signed code, new every 30 s, only during the activity ±15 min."""
        activity = await station_activity(earning, principal, activity_id)
        return shaped(CodeOut, await venue.venue_code(activity))

    @get("/activities/{activity_id:int}/checkin-code.png", media_type="image/png",
         guards=[roles("admin", "organizer")], responses=problems(DESK_CODE))
    async def checkin_code_png(self, earning: Service[Earning], venue: Service[Venue], principal: Caller,
                               activity_id: FromPath[int]) -> Response[bytes]:
        """The same code as a QR picture for the desk's screen (a new one on every fetch)."""
        activity = await station_activity(earning, principal, activity_id)
        return qr_response((await venue.venue_code(activity))["code"])

    @get("/residents/{resident_id:int}/checkin-code", guards=[roles("resident")],
         responses=problems(earning_errors.ResidentNotFound))
    async def personal_checkin_code(self, earning: Service[Earning], venue: Service[Venue], principal: Caller,
                                    resident_id: FromPath[int]) -> CodeOut:
        """The resident's own rotating code, for the desk to scan."""
        return shaped(CodeOut, await own_code(earning, venue, principal, resident_id))

    @get("/residents/{resident_id:int}/checkin-code.png", media_type="image/png", guards=[roles("resident")],
         responses=problems(earning_errors.ResidentNotFound))
    async def personal_checkin_code_png(self, earning: Service[Earning], venue: Service[Venue], principal: Caller,
                                        resident_id: FromPath[int]) -> Response[bytes]:
        return qr_response((await own_code(earning, venue, principal, resident_id))["code"])

    @post("/checkins", status_code=201, guards=[roles("resident")],
          responses=problems(CHECK_IN, earning_errors.CheckinCodeOtherActivity))
    async def scan_desk_code(self, earning: Service[Earning], venue: Service[Venue], principal: Caller,
                             data: JSONBody[CheckinIn]) -> CheckinOut:
        """A resident scans the desk's code: the first scan checks in, the second out."""
        principal.require_role("resident")
        activity_id, parsed = await venue.activity_of_code(data.code)
        if data.activity_id is not None and data.activity_id != activity_id:
            raise earning_errors.CheckinCodeOtherActivity("this code belongs to another activity",
                                                          activity_id=data.activity_id)
        try:
            activity = await earning.activity(activity_id)
        except earning_errors.ActivityNotFound:
            raise earning_errors.CheckinCodeInvalid("this check-in code is not genuine") from None
        await venue.check_venue_code(activity, parsed)
        return checkin_out(await venue.check_in_or_out(activity, principal.resident_id, principal.actor,
                                                       data.direction))

    @post("/activities/{activity_id:int}/checkins", status_code=201, guards=[roles("admin", "organizer")],
          responses=problems(CHECK_IN, earning_errors.ActivityNotFound, earning_errors.UnknownResident))
    async def desk_checkin(self, earning: Service[Earning], venue: Service[Venue], principal: Caller,
                           activity_id: FromPath[int], data: JSONBody[DeskCheckinIn]) -> CheckinOut:
        """The organizer checks a resident in (or out) by the resident's code."""
        activity = await station_activity(earning, principal, activity_id)
        resident_id = await venue.resident_of_code(activity, data.resident_code)
        return checkin_out(await venue.check_in_or_out(activity, resident_id, principal.actor, data.direction))

    @get("/activities/{activity_id:int}/checkins", guards=[roles("admin", "organizer")],
         responses=problems(earning_errors.ActivityNotFound))
    async def list_checkins(self, earning: Service[Earning], venue: Service[Venue], principal: Caller,
                            activity_id: FromPath[int]) -> CheckinsOut:
        activity = await station_activity(earning, principal, activity_id)
        return CheckinsOut(activity_id=activity_id, items=[checkin_out(row) for row in await venue.checkins(activity)])

    @post("/activities/{activity_id:int}/close", status_code=200, guards=[roles("admin", "organizer")],
          responses=problems(earning_errors.ActivityNotFound, earning_errors.ActivityNotOpen,
                             earning_errors.ActivityNotStarted))
    async def close_activity(self, earning: Service[Earning], venue: Service[Venue], principal: Caller,
                             activity_id: FromPath[int]) -> CloseOut:
        """Award the checked-out their minutes, once; closing again answers the same summary."""
        activity = await station_activity(earning, principal, activity_id)
        return decoded(CloseOut, await venue.close(activity, principal.actor))   # the summary is JSON


ROUTES = [VenueController]
