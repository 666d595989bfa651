"""Earning: towns, stations, residents, activity types and rules, activities, attendance,
budgets, earning history and leaderboards. Organizers act within their station (or their
whole realm when their token names no station); residents read only their own."""
from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.routes.activities import (ActivitiesOut, ActivityOut, ActivityRecord, ActivityRecordsOut,
                                   AttendanceResult, activity_out, activity_record, upcoming_activities,
                                   visible_activity)
from api.routes.common import REPLAYED_HEADER, Caller, IdempotencyKey, required_idempotency_key, services
from earning import model
from earning.service import Earning

READERS = ("admin", "organizer", "auditor")


# requests --------------------------------------------------------------------------

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
    starts_at: datetime                  # with its UTC offset
    ends_at: datetime
    place: str | None = None
    description: str | None = None
    capacity: int | None = None          # none: no limit
    signup_opens_at: datetime | None = None
    signup_closes_at: datetime | None = None  # none: when it starts
    status: str = "published"            # or draft (publish it later)

    def details(self) -> model.ActivityDetails:
        return model.ActivityDetails(self.place, self.description, self.capacity, self.signup_opens_at,
                                     self.signup_closes_at, self.status)


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




# answers ---------------------------------------------------------------------------

class Town(msgspec.Struct):
    realm: str
    id: int
    name: str
    created_at: datetime


class TownsOut(msgspec.Struct):
    items: list[Town]
    next_cursor: str | None


class Station(msgspec.Struct):
    realm: str
    id: int
    town_id: int
    town_name: str
    name: str
    setting: str                  # urban or rural
    created_at: datetime


class StationsOut(msgspec.Struct):
    items: list[Station]
    next_cursor: str | None


class Resident(msgspec.Struct):
    realm: str
    id: int
    station_id: int
    code: str
    display_name: str | None
    phone: str | None
    created_at: datetime


class ResidentAccount(msgspec.Struct):
    id: int
    asset: str
    balance: int


class ResidentDetail(Resident):
    """A resident with its accounts, one per asset."""
    accounts: list[ResidentAccount]


class ResidentsOut(msgspec.Struct):
    items: list[Resident]
    next_cursor: str | None


class Award(msgspec.Struct):
    entry_id: int
    activity_id: int
    title: str
    activity_type: str
    rule_version: int
    asset: str
    minutes: int
    points: int
    award_day: date               # the realm's day the points count for (the daily cap)
    created_at: datetime


class AwardsOut(msgspec.Struct):
    items: list[Award]
    next_cursor: str | None


class Totals(msgspec.Struct):
    resident_id: int
    first_day: date
    last_day: date
    activities: int
    minutes: int
    civic_points: int
    agri_points: int
    hours: float


class RuleVersion(msgspec.Struct):
    version: int
    asset: str
    base_points: int
    points_per_hour: int
    creditable_minutes_max: int
    daily_cap_points: int
    created_by: str
    created_at: datetime


class ActivityType(RuleVersion):
    """An activity type with its current rule (the highest version)."""
    realm: str
    code: str
    name: str


class ActivityTypeDetail(ActivityType):
    versions: list[RuleVersion]   # every version of its rule, oldest first


class ActivityTypesOut(msgspec.Struct):
    items: list[ActivityType]
    next_cursor: None             # one page: a realm has few types


class AttendanceOut(msgspec.Struct):
    activity_id: int
    results: list[AttendanceResult]   # one per record, in order
    awarded: int
    refused: int
    points: int


class Budget(msgspec.Struct):
    asset: str
    account_id: int
    remaining: int
    funded_total: int
    spent_total: int
    other_total: int


class BudgetsOut(msgspec.Struct):
    realm: str
    items: list[Budget]
    next_cursor: None


class Posting(msgspec.Struct):
    account_id: int
    asset: str
    amount: int
    balance_after: int


class EntryOut(msgspec.Struct):
    realm: str
    id: int
    kind: str
    reverses_entry_id: int | None
    reference: str | None
    memo: str | None
    created_by: str
    created_at: datetime
    postings: list[Posting]


class Standing(msgspec.Struct):
    rank: int
    resident_id: int
    code: str
    display_name: str | None
    station_id: int
    points: int
    minutes: int
    activities: int


class LeaderboardOut(msgspec.Struct):
    realm: str
    station_id: int | None
    first_day: date
    last_day: date
    order: str                    # points or minutes
    items: list[Standing]
    next_cursor: str | None


def earning(request: Request) -> Earning:
    return services(request).earning


def scoped_station(principal: Caller, station_id: int | None) -> int | None:
    """The station a list is limited to: the organizer's own, if it has one."""
    if principal.role == "organizer" and principal.station_id is not None:
        if station_id is not None:
            principal.require_station(principal.realm, station_id)  # type: ignore[arg-type]
        return principal.station_id
    return station_id


async def readable_resident(request: Request, principal: Caller, resident_id: int) -> dict[str, Any]:
    """The resident's row (with its accounts), for a caller that may see its data."""
    resident = await earning(request).resident(resident_id)
    principal.require_resident(resident["realm"], resident["id"], resident["station_id"])
    return resident


async def scoped_activity(request: Request, principal: Caller, activity_id: int,
                          *roles: str) -> dict[str, Any]:
    activity = await earning(request).activity(activity_id)
    principal.require(activity["realm"], *roles)
    principal.require_station(activity["realm"], activity["station_id"])
    return activity


def replayed_header(replayed: bool) -> dict[str, str]:
    return {REPLAYED_HEADER: "true"} if replayed else {}


class PlacesController(Controller):
    """Towns and their stations."""
    path = "/v1"
    tags = ["places"]

    @post("/towns", status_code=201)
    async def create_town(self, request: Request, principal: Caller, data: JSONBody[TownIn]) -> Town:
        principal.require(data.realm, "admin")
        return msgspec.convert(await earning(request).create_town(data.realm, data.name), Town)

    @get("/towns")
    async def list_towns(self, request: Request, principal: Caller, realm: FromQuery[str],
                         cursor: FromQuery[str | None] = None, limit: FromQuery[int | None] = None) -> TownsOut:
        principal.require(realm, *READERS)
        page = await earning(request).towns(realm, cursor, limit)
        return TownsOut(items=msgspec.convert(page.items, list[Town]), next_cursor=page.next_cursor)

    @post("/stations", status_code=201)
    async def create_station(self, request: Request, principal: Caller, data: JSONBody[StationIn]) -> Station:
        principal.require(data.realm, "admin")
        made = await earning(request).create_station(data.realm, data.town_id, data.name, data.setting)
        return msgspec.convert(made, Station)

    @get("/stations")
    async def list_stations(self, request: Request, principal: Caller, realm: FromQuery[str],
                            cursor: FromQuery[str | None] = None,
                            limit: FromQuery[int | None] = None) -> StationsOut:
        principal.require(realm, *READERS)
        page = await earning(request).stations(realm, cursor, limit)
        return StationsOut(items=msgspec.convert(page.items, list[Station]), next_cursor=page.next_cursor)

    @get("/stations/{station_id:int}")
    async def read_station(self, request: Request, principal: Caller, station_id: FromPath[int]) -> Station:
        station = await earning(request).station(station_id)
        principal.require(station["realm"], *READERS)
        return msgspec.convert(station, Station)


class ResidentsController(Controller):
    """Residents, their awards and totals."""
    path = "/v1/residents"
    tags = ["residents"]

    @post("/", status_code=201)
    async def register_resident(self, request: Request, principal: Caller,
                                data: JSONBody[ResidentIn]) -> ResidentDetail:
        principal.require(data.realm, "admin", "organizer")
        principal.require_station(data.realm, data.station_id)
        made = await earning(request).register_resident(data.realm, data.station_id, data.code,
                                                        data.display_name, data.phone)
        return msgspec.convert(made, ResidentDetail)

    @get("/")
    async def list_residents(self, request: Request, principal: Caller, realm: FromQuery[str],
                             station: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
                             limit: FromQuery[int | None] = None) -> ResidentsOut:
        principal.require(realm, *READERS)
        page = await earning(request).residents(realm, scoped_station(principal, station), cursor, limit)
        return ResidentsOut(items=msgspec.convert(page.items, list[Resident]), next_cursor=page.next_cursor)

    @get("/{resident_id:int}")
    async def read_resident(self, request: Request, principal: Caller,
                            resident_id: FromPath[int]) -> ResidentDetail:
        return msgspec.convert(await readable_resident(request, principal, resident_id), ResidentDetail)

    @get("/{resident_id:int}/awards")
    async def resident_awards(self, request: Request, principal: Caller, resident_id: FromPath[int],
                              cursor: FromQuery[str | None] = None,
                              limit: FromQuery[int | None] = None) -> AwardsOut:
        resident = await readable_resident(request, principal, resident_id)
        page = await earning(request).awards(resident, cursor, limit)
        return AwardsOut(items=msgspec.convert(page.items, list[Award]), next_cursor=page.next_cursor)

    @get("/{resident_id:int}/totals")
    async def resident_totals(self, request: Request, principal: Caller, resident_id: FromPath[int],
                              period: FromQuery[str | None] = None) -> Totals:
        resident = await readable_resident(request, principal, resident_id)
        return msgspec.convert(await earning(request).totals(resident, period), Totals)


class ActivityTypesController(Controller):
    """Activity types and the versions of their award rules."""
    path = "/v1/activity-types"
    tags = ["activity types"]

    @get("/")
    async def list_activity_types(self, request: Request, principal: Caller,
                                  realm: FromQuery[str]) -> ActivityTypesOut:
        principal.require(realm, *READERS, "resident")
        types = await earning(request).activity_types(realm)
        return ActivityTypesOut(items=msgspec.convert(types, list[ActivityType]), next_cursor=None)

    @get("/{code:str}")
    async def read_activity_type(self, request: Request, principal: Caller, code: FromPath[str],
                                 realm: FromQuery[str]) -> ActivityTypeDetail:
        principal.require(realm, *READERS, "resident")
        return msgspec.convert(await earning(request).activity_type(realm, code), ActivityTypeDetail)

    @post("/", status_code=201)
    async def create_activity_type(self, request: Request, principal: Caller,
                                   data: JSONBody[ActivityTypeIn]) -> ActivityTypeDetail:
        principal.require(data.realm, "admin")
        made = await earning(request).create_activity_type(data.realm, data.code, data.name,
                                                           data.rule.rule(), principal.actor)
        return msgspec.convert(made, ActivityTypeDetail)

    @post("/{code:str}/rules", status_code=201)
    async def change_rule(self, request: Request, principal: Caller, code: FromPath[str],
                          realm: FromQuery[str], data: JSONBody[RuleIn]) -> ActivityTypeDetail:
        principal.require(realm, "admin")
        changed = await earning(request).change_rule(realm, code, data.rule(), principal.actor)
        return msgspec.convert(changed, ActivityTypeDetail)


class ActivitiesController(Controller):
    """Activities (created, listed, published or cancelled) and their attendance."""
    path = "/v1/activities"
    tags = ["activities"]

    @post("/", status_code=201)
    async def create_activity(self, request: Request, principal: Caller,
                              data: JSONBody[ActivityIn]) -> ActivityRecord:
        principal.require(data.realm, "admin", "organizer")
        principal.require_station(data.realm, data.station_id)
        made = await earning(request).create_activity(
            data.realm, data.activity_type, data.station_id, data.title, data.starts_at, data.ends_at,
            principal.actor, data.details())
        return activity_record(made)

    @get("/")
    async def list_activities(self, request: Request, principal: Caller, realm: FromQuery[str],
                              station: FromQuery[int | None] = None,
                              upcoming: FromQuery[bool] = False,
                              activity_type: Annotated[str | None, QueryParameter(name="type")] = None,
                              day: Annotated[str | None, QueryParameter(name="date")] = None,
                              cursor: FromQuery[str | None] = None,
                              limit: FromQuery[int | None] = None) -> ActivitiesOut | ActivityRecordsOut:
        """`upcoming=true` (always, for residents): what is on, nearest places first, with
        the points on offer; filter by `type` and `date` (YYYY-MM-DD, realm time).
        Otherwise the realm's activities as stored, oldest first."""
        if upcoming or principal.role == "resident":
            return await upcoming_activities(request, principal, realm, activity_type, day, cursor, limit)
        principal.require(realm, *READERS)
        page = await earning(request).activities(realm, scoped_station(principal, station), cursor, limit)
        return ActivityRecordsOut(items=[activity_record(row) for row in page.items], next_cursor=page.next_cursor)

    @get("/{activity_id:int}")
    async def read_activity(self, request: Request, principal: Caller,
                            activity_id: FromPath[int]) -> ActivityRecord | ActivityOut:
        """Residents see it as listed (points on offer, their sign-up, check-in and award);
        organizers, admins and auditors as stored."""
        if principal.role == "resident":
            activity = await visible_activity(request, principal, activity_id)
            return activity_out(await earning(request).listed_activity(activity, principal.resident_id))
        return activity_record(await scoped_activity(request, principal, activity_id, *READERS))

    @post("/{activity_id:int}/status", status_code=200)
    async def set_activity_status(self, request: Request, principal: Caller, activity_id: FromPath[int],
                                  data: JSONBody[ActivityStatusIn]) -> ActivityRecord:
        activity = await scoped_activity(request, principal, activity_id, "admin", "organizer")
        return activity_record(await earning(request).set_activity_status(activity, data.status))

    @post("/{activity_id:int}/attendance", status_code=200)
    async def record_attendance(self, request: Request, principal: Caller, activity_id: FromPath[int],
                                data: JSONBody[AttendanceIn],
                                idempotency_key: IdempotencyKey = None) -> Response[AttendanceOut]:
        """Award minutes to residents, all or nothing per record; a retry under the same
        Idempotency-Key answers the first results (flagged `Idempotent-Replayed: true`)."""
        key = required_idempotency_key(idempotency_key)
        activity = await scoped_activity(request, principal, activity_id, "admin", "organizer")
        outcome = await earning(request).record_attendance(
            activity, [(r.resident_id, r.minutes) for r in data.records], principal.actor, key)
        return Response(msgspec.convert(outcome.body(), AttendanceOut), status_code=200,
                        headers=replayed_header(outcome.replayed))


class BudgetsController(Controller):
    """The realm's award budgets, funding them, and the leaderboards."""
    path = "/v1"
    tags = ["budgets"]

    @get("/budgets")
    async def read_budgets(self, request: Request, principal: Caller, realm: FromQuery[str]) -> BudgetsOut:
        principal.require(realm, "admin", "auditor")
        budgets = await earning(request).budgets(realm)
        return BudgetsOut(realm=realm, items=msgspec.convert(budgets, list[Budget]), next_cursor=None)

    @post("/budgets/funding", status_code=201)
    async def fund_budget(self, request: Request, principal: Caller, data: JSONBody[FundingIn],
                          idempotency_key: IdempotencyKey = None) -> Response[EntryOut]:
        """A `fund` entry into the realm's budget of the asset; a retry answers the first
        entry (flagged `Idempotent-Replayed: true`)."""
        principal.require(data.realm, "admin")
        key = required_idempotency_key(idempotency_key)
        entry = await earning(request).fund_budget(data.realm, data.asset, data.amount,
                                                   principal.actor, key, data.memo)
        return Response(msgspec.convert(entry, EntryOut), status_code=201,
                        headers=replayed_header(bool(entry.get("replayed"))))

    @get("/leaderboards")
    async def leaderboard(self, request: Request, principal: Caller, realm: FromQuery[str],
                          station: FromQuery[int | None] = None, period: FromQuery[str | None] = None,
                          order: FromQuery[str] = "points", cursor: FromQuery[str | None] = None,
                          limit: FromQuery[int | None] = None) -> LeaderboardOut:
        principal.require(realm, *READERS, "resident")
        board = await earning(request).leaderboard(realm, station, period, order, cursor, limit)
        return msgspec.convert(board, LeaderboardOut)


ROUTES = [PlacesController, ResidentsController, ActivityTypesController, ActivitiesController,
          BudgetsController]
