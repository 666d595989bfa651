"""Earning: towns, stations, residents, activity types and rules, activities, attendance,
budgets, earning history and leaderboards. Organizers act within their station (or their
whole realm when their token names no station); residents read only their own."""
from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.routes.activities import activity_out, upcoming_activities, visible_activity
from api.routes.common import (REPLAYED_HEADER, Caller, IdempotencyKey, entry_response, page_body,
                               parse_timestamp, required_idempotency_key, services)
from earning import model
from earning.service import Earning
from insight.model import public_leaderboard_row

READERS = ("admin", "organizer", "auditor")


class TownIn(msgspec.Struct, forbid_unknown_fields=True):
    realm: str
    name: str


class StationIn(msgspec.Struct, forbid_unknown_fields=True):
    realm: str
    town_id: int
    name: str
    setting: str


class ResidentIn(msgspec.Struct, forbid_unknown_fields=True):
    realm: str
    station_id: int
    code: str
    display_name: str | None = None
    phone: str | None = None


class RuleIn(msgspec.Struct, forbid_unknown_fields=True):
    asset: str = "civic"
    base_points: int = model.OTHER_TYPE_BASE_POINTS
    points_per_hour: int = model.DEFAULT_POINTS_PER_HOUR
    creditable_minutes_max: int = model.DEFAULT_CREDITABLE_MINUTES_MAX
    daily_cap_points: int = model.DEFAULT_DAILY_CAP_POINTS

    def rule(self) -> model.Rule:
        return model.Rule(self.asset, self.base_points, self.points_per_hour,
                          self.creditable_minutes_max, self.daily_cap_points)


class ActivityTypeIn(msgspec.Struct, forbid_unknown_fields=True):
    realm: str
    code: str
    name: str
    rule: RuleIn = msgspec.field(default_factory=RuleIn)


class ActivityIn(msgspec.Struct, forbid_unknown_fields=True):
    realm: str
    activity_type: str
    station_id: int
    title: str
    starts_at: str
    ends_at: str
    place: str | None = None
    description: str | None = None
    capacity: int | None = None          # none: no limit
    signup_opens_at: str | None = None
    signup_closes_at: str | None = None  # none: when it starts
    status: str = "published"            # or draft (publish it later)

    def details(self) -> model.ActivityDetails:
        return model.ActivityDetails(
            self.place, self.description, self.capacity,
            parse_timestamp(self.signup_opens_at) if self.signup_opens_at else None,
            parse_timestamp(self.signup_closes_at) if self.signup_closes_at else None, self.status)


class ActivityStatusIn(msgspec.Struct, forbid_unknown_fields=True):
    status: str                          # published or cancelled


class AttendeeIn(msgspec.Struct, forbid_unknown_fields=True):
    resident_id: int
    minutes: int


class AttendanceIn(msgspec.Struct, forbid_unknown_fields=True):
    records: list[AttendeeIn]


class FundingIn(msgspec.Struct, forbid_unknown_fields=True):
    realm: str
    asset: str
    amount: int
    memo: str | None = None


def earning(request: Request) -> Earning:
    return services(request).earning


def scoped_station(principal: Caller, station_id: int | None) -> int | None:
    """The station a list is limited to: the organizer's own, if it has one."""
    if principal.role == "organizer" and principal.station_id is not None:
        if station_id is not None:
            principal.require_station(principal.realm, station_id)  # type: ignore[arg-type]
        return principal.station_id
    return station_id


# places ----------------------------------------------------------------------------

@post("/v1/towns", status_code=201)
async def create_town(request: Request, principal: Caller, data: JSONBody[TownIn]) -> dict[str, Any]:
    principal.require(data.realm, "admin")
    return await earning(request).create_town(data.realm, data.name)


@get("/v1/towns")
async def list_towns(request: Request, principal: Caller, realm: FromQuery[str],
                     cursor: FromQuery[str | None] = None,
                     limit: FromQuery[int | None] = None) -> dict[str, Any]:
    principal.require(realm, *READERS)
    return page_body(await earning(request).towns(realm, cursor, limit))


@post("/v1/stations", status_code=201)
async def create_station(request: Request, principal: Caller, data: JSONBody[StationIn]) -> dict[str, Any]:
    principal.require(data.realm, "admin")
    return await earning(request).create_station(data.realm, data.town_id, data.name, data.setting)


@get("/v1/stations")
async def list_stations(request: Request, principal: Caller, realm: FromQuery[str],
                        cursor: FromQuery[str | None] = None,
                        limit: FromQuery[int | None] = None) -> dict[str, Any]:
    principal.require(realm, *READERS)
    return page_body(await earning(request).stations(realm, cursor, limit))


@get("/v1/stations/{station_id:int}")
async def read_station(request: Request, principal: Caller, station_id: FromPath[int]) -> dict[str, Any]:
    station = await earning(request).station(station_id)
    principal.require(station["realm"], *READERS)
    return station


# residents -------------------------------------------------------------------------

@post("/v1/residents", status_code=201)
async def register_resident(request: Request, principal: Caller,
                            data: JSONBody[ResidentIn]) -> dict[str, Any]:
    principal.require(data.realm, "admin", "organizer")
    principal.require_station(data.realm, data.station_id)
    return await earning(request).register_resident(data.realm, data.station_id, data.code,
                                                    data.display_name, data.phone)


@get("/v1/residents")
async def list_residents(request: Request, principal: Caller, realm: FromQuery[str],
                         station: FromQuery[int | None] = None,
                         cursor: FromQuery[str | None] = None,
                         limit: FromQuery[int | None] = None) -> dict[str, Any]:
    principal.require(realm, *READERS)
    page = await earning(request).residents(realm, scoped_station(principal, station), cursor, limit)
    return page_body(page)


async def readable_resident(request: Request, principal: Caller, resident_id: int) -> dict[str, Any]:
    resident = await earning(request).resident(resident_id)
    principal.require_resident(resident["realm"], resident["id"], resident["station_id"])
    return resident


@get("/v1/residents/{resident_id:int}")
async def read_resident(request: Request, principal: Caller, resident_id: FromPath[int]) -> dict[str, Any]:
    return await readable_resident(request, principal, resident_id)


@get("/v1/residents/{resident_id:int}/awards")
async def resident_awards(request: Request, principal: Caller, resident_id: FromPath[int],
                          cursor: FromQuery[str | None] = None,
                          limit: FromQuery[int | None] = None) -> dict[str, Any]:
    resident = await readable_resident(request, principal, resident_id)
    return page_body(await earning(request).awards(resident, cursor, limit))


@get("/v1/residents/{resident_id:int}/totals")
async def resident_totals(request: Request, principal: Caller, resident_id: FromPath[int],
                          period: FromQuery[str | None] = None) -> dict[str, Any]:
    resident = await readable_resident(request, principal, resident_id)
    return await earning(request).totals(resident, period)


# activity types --------------------------------------------------------------------

@get("/v1/activity-types")
async def list_activity_types(request: Request, principal: Caller,
                              realm: FromQuery[str]) -> dict[str, Any]:
    principal.require(realm, *READERS, "resident")
    return {"items": await earning(request).activity_types(realm), "next_cursor": None}


@get("/v1/activity-types/{code:str}")
async def read_activity_type(request: Request, principal: Caller, code: FromPath[str],
                             realm: FromQuery[str]) -> dict[str, Any]:
    principal.require(realm, *READERS, "resident")
    return await earning(request).activity_type(realm, code)


@post("/v1/activity-types", status_code=201)
async def create_activity_type(request: Request, principal: Caller,
                               data: JSONBody[ActivityTypeIn]) -> dict[str, Any]:
    principal.require(data.realm, "admin")
    return await earning(request).create_activity_type(data.realm, data.code, data.name,
                                                       data.rule.rule(), principal.actor)


@post("/v1/activity-types/{code:str}/rules", status_code=201)
async def change_rule(request: Request, principal: Caller, code: FromPath[str],
                      realm: FromQuery[str], data: JSONBody[RuleIn]) -> dict[str, Any]:
    principal.require(realm, "admin")
    return await earning(request).change_rule(realm, code, data.rule(), principal.actor)


# activities and attendance ---------------------------------------------------------

@post("/v1/activities", status_code=201)
async def create_activity(request: Request, principal: Caller, data: JSONBody[ActivityIn]) -> dict[str, Any]:
    principal.require(data.realm, "admin", "organizer")
    principal.require_station(data.realm, data.station_id)
    return await earning(request).create_activity(
        data.realm, data.activity_type, data.station_id, data.title,
        parse_timestamp(data.starts_at), parse_timestamp(data.ends_at), principal.actor, data.details())


@get("/v1/activities")
async def list_activities(request: Request, principal: Caller, realm: FromQuery[str],
                          station: FromQuery[int | None] = None,
                          upcoming: FromQuery[bool] = False,
                          activity_type: Annotated[str | None, QueryParameter(name="type")] = None,
                          day: Annotated[str | None, QueryParameter(name="date")] = None,
                          cursor: FromQuery[str | None] = None,
                          limit: FromQuery[int | None] = None) -> Any:
    """`upcoming=true` (always, for residents): what is on, nearest places first, with
    the points on offer; filter by `type` and `date` (YYYY-MM-DD, realm time)."""
    if upcoming or principal.role == "resident":
        return await upcoming_activities(request, principal, realm, activity_type, day, cursor, limit)
    principal.require(realm, *READERS)
    page = await earning(request).activities(realm, scoped_station(principal, station), cursor, limit)
    return page_body(page)


async def scoped_activity(request: Request, principal: Caller, activity_id: int,
                          *roles: str) -> dict[str, Any]:
    activity = await earning(request).activity(activity_id)
    principal.require(activity["realm"], *roles)
    principal.require_station(activity["realm"], activity["station_id"])
    return activity


@get("/v1/activities/{activity_id:int}")
async def read_activity(request: Request, principal: Caller, activity_id: FromPath[int]) -> Any:
    """Residents see it as listed (points on offer, their sign-up, check-in and award)."""
    if principal.role == "resident":
        activity = await visible_activity(request, principal, activity_id)
        return activity_out(await earning(request).listed_activity(activity, principal.resident_id))
    return await scoped_activity(request, principal, activity_id, *READERS)


@post("/v1/activities/{activity_id:int}/status", status_code=200)
async def set_activity_status(request: Request, principal: Caller, activity_id: FromPath[int],
                              data: JSONBody[ActivityStatusIn]) -> dict[str, Any]:
    activity = await scoped_activity(request, principal, activity_id, "admin", "organizer")
    return await earning(request).set_activity_status(activity, data.status)


@post("/v1/activities/{activity_id:int}/attendance", status_code=200)
async def record_attendance(request: Request, principal: Caller, activity_id: FromPath[int],
                            data: JSONBody[AttendanceIn],
                            idempotency_key: IdempotencyKey = None) -> Response[dict[str, Any]]:
    key = required_idempotency_key(idempotency_key)
    activity = await scoped_activity(request, principal, activity_id, "admin", "organizer")
    outcome = await earning(request).record_attendance(
        activity, [(r.resident_id, r.minutes) for r in data.records], principal.actor, key)
    headers = {REPLAYED_HEADER: "true"} if outcome.replayed else {}
    return Response(outcome.body(), status_code=200, headers=headers)


# budgets and leaderboards ----------------------------------------------------------

@get("/v1/budgets")
async def read_budgets(request: Request, principal: Caller, realm: FromQuery[str]) -> dict[str, Any]:
    principal.require(realm, "admin", "auditor")
    return {"realm": realm, "items": await earning(request).budgets(realm), "next_cursor": None}


@post("/v1/budgets/funding")
async def fund_budget(request: Request, principal: Caller, data: JSONBody[FundingIn],
                      idempotency_key: IdempotencyKey = None) -> Response[dict[str, Any]]:
    principal.require(data.realm, "admin")
    key = required_idempotency_key(idempotency_key)
    entry = await earning(request).fund_budget(data.realm, data.asset, data.amount,
                                               principal.actor, key, data.memo)
    return entry_response(entry)


@get("/v1/leaderboards")
async def leaderboard(request: Request, principal: Caller, realm: FromQuery[str],
                      station: FromQuery[int | None] = None, period: FromQuery[str | None] = None,
                      order: FromQuery[str] = "points", cursor: FromQuery[str | None] = None,
                      limit: FromQuery[int | None] = None) -> dict[str, Any]:
    principal.require(realm, *READERS, "resident")
    board = await earning(request).leaderboard(realm, station, period, order, cursor, limit)
    if principal.role == "resident":   # other residents: masked names, no codes or ids (issue 16 item 5)
        board["items"] = [public_leaderboard_row(row, principal.resident_id) for row in board["items"]]
    return board


ROUTES = [create_town, list_towns, create_station, list_stations, read_station, register_resident,
          list_residents, read_resident, resident_awards, resident_totals, list_activity_types,
          read_activity_type, create_activity_type, change_rule, create_activity, list_activities,
          read_activity, set_activity_status, record_attendance, read_budgets, fund_budget, leaderboard]
