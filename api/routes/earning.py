"""Earning: towns, stations, residents, activity types and rules, activities, attendance,
budgets, earning history and leaderboards. Organizers act within their station (or their
whole realm when their token names no station); residents read only their own."""
from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.auth import roles
from api.errors import problems
from api.routes.activities import Activity, AttendanceResult, activity_of, upcoming_activities, visible_activity
from api.routes.common import (PAGING, Caller, IdempotencyKey, ItemsPage, Service, decoded, replayable,
                               required_idempotency_key, shaped)
from api.routes.ledger import Entry
from earning import errors as earning_errors
from earning import model
from earning.service import Earning
from ledger import errors as ledger_errors
from ledger.service import Ledger
from insight.model import public_leaderboard_row

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


class Station(msgspec.Struct):
    realm: str
    id: int
    town_id: int
    town_name: str
    name: str
    setting: str                  # urban or rural
    created_at: datetime


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


class Standing(msgspec.Struct, kw_only=True):
    """A leaderboard line. Staff see who (`resident_id`, `code`, `display_name`); a
    resident sees other residents as `name`, masked (张*) unless they opted in, and its own
    line flagged `me` (issue 16 item 5): never another's code or id."""
    rank: int
    resident_id: int | msgspec.UnsetType = msgspec.UNSET
    code: str | msgspec.UnsetType = msgspec.UNSET
    display_name: str | None | msgspec.UnsetType = msgspec.UNSET
    name: str | msgspec.UnsetType = msgspec.UNSET
    me: bool | msgspec.UnsetType = msgspec.UNSET
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


READ_RESIDENT = (earning_errors.ResidentNotFound,)
WRITE_ACTIVITY = (ledger_errors.InvalidInput, ledger_errors.InvalidTimestamp, earning_errors.EndBeforeStart,
                  earning_errors.InvalidActivity, earning_errors.UnknownActivityType, earning_errors.UnknownStation)
WRITE_RULE = (earning_errors.InvalidRule, earning_errors.UnknownAsset)


def scoped_station(principal: Caller, station_id: int | None) -> int | None:
    """The station a list is limited to: the organizer's own, if it has one."""
    if principal.role == "organizer" and principal.station_id is not None:
        if station_id is not None:
            principal.require_station(principal.realm, station_id)  # type: ignore[arg-type]
        return principal.station_id
    return station_id


async def resident_for(earning: Earning, principal: Caller, resident_id: int) -> dict[str, Any]:
    """The resident's row (with its accounts), for a caller that may see its data."""
    resident = await earning.resident(resident_id)
    principal.require_resident(resident["realm"], resident["id"], resident["station_id"])
    return resident


async def scoped_activity(earning: Earning, principal: Caller, activity_id: int, *roles: str) -> dict[str, Any]:
    activity = await earning.activity(activity_id)
    principal.require(activity["realm"], *roles)
    principal.require_station(activity["realm"], activity["station_id"])
    return activity


class PlacesController(Controller):
    """Towns and their stations."""
    path = "/v1"
    tags = ["places"]

    @post("/towns", status_code=201, guards=[roles("admin")],
          responses=problems(ledger_errors.InvalidInput, ledger_errors.RealmNotFound, earning_errors.TownExists))
    async def create_town(self, earning: Service[Earning], principal: Caller, data: JSONBody[TownIn]) -> Town:
        principal.require(data.realm, "admin")
        return shaped(Town, await earning.create_town(data.realm, data.name))

    @get("/towns", guards=[roles(*READERS)], responses=problems(PAGING))
    async def list_towns(self, earning: Service[Earning], principal: Caller, realm: FromQuery[str],
                         cursor: FromQuery[str | None] = None,
                         limit: FromQuery[int | None] = None) -> ItemsPage[Town]:
        principal.require(realm, *READERS)
        page = await earning.towns(realm, cursor, limit)
        return ItemsPage([shaped(Town, row) for row in page.items], page.next_cursor)

    @post("/stations", status_code=201, guards=[roles("admin")],
          responses=problems(ledger_errors.InvalidInput, earning_errors.InvalidStation, earning_errors.UnknownTown,
                             earning_errors.StationExists))
    async def create_station(self, earning: Service[Earning], principal: Caller,
                             data: JSONBody[StationIn]) -> Station:
        principal.require(data.realm, "admin")
        return shaped(Station, await earning.create_station(data.realm, data.town_id, data.name, data.setting))

    @get("/stations", guards=[roles(*READERS)], responses=problems(PAGING))
    async def list_stations(self, earning: Service[Earning], principal: Caller, realm: FromQuery[str],
                            cursor: FromQuery[str | None] = None,
                            limit: FromQuery[int | None] = None) -> ItemsPage[Station]:
        principal.require(realm, *READERS)
        page = await earning.stations(realm, cursor, limit)
        return ItemsPage([shaped(Station, row) for row in page.items], page.next_cursor)

    @get("/stations/{station_id:int}", guards=[roles(*READERS)], responses=problems(earning_errors.StationNotFound))
    async def read_station(self, earning: Service[Earning], principal: Caller, station_id: FromPath[int]) -> Station:
        station = await earning.station(station_id)
        principal.require(station["realm"], *READERS)
        return shaped(Station, station)


class ResidentsController(Controller):
    """Residents, their awards and totals."""
    path = "/v1/residents"
    tags = ["residents"]

    @post(status_code=201, guards=[roles("admin", "organizer")],
          responses=problems(earning_errors.InvalidResident, earning_errors.UnknownStation,
                             earning_errors.ResidentExists))
    async def register_resident(self, earning: Service[Earning], principal: Caller,
                                data: JSONBody[ResidentIn]) -> ResidentDetail:
        """A resident and its accounts, one per asset."""
        principal.require(data.realm, "admin", "organizer")
        principal.require_station(data.realm, data.station_id)
        made = await earning.register_resident(data.realm, data.station_id, data.code, data.display_name,
                                               data.phone)
        return decoded(ResidentDetail, made)

    @get(guards=[roles(*READERS)], responses=problems(PAGING))
    async def list_residents(self, earning: Service[Earning], principal: Caller, realm: FromQuery[str],
                             station: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
                             limit: FromQuery[int | None] = None) -> ItemsPage[Resident]:
        """A station organizer lists its station's residents."""
        principal.require(realm, *READERS)
        page = await earning.residents(realm, scoped_station(principal, station), cursor, limit)
        return ItemsPage([shaped(Resident, row) for row in page.items], page.next_cursor)

    @get("/{resident_id:int}", responses=problems(READ_RESIDENT))
    async def read_resident(self, earning: Service[Earning], principal: Caller,
                            resident_id: FromPath[int]) -> ResidentDetail:
        return decoded(ResidentDetail, await resident_for(earning, principal, resident_id))

    @get("/{resident_id:int}/awards", responses=problems(READ_RESIDENT, PAGING))
    async def resident_awards(self, earning: Service[Earning], principal: Caller, resident_id: FromPath[int],
                              cursor: FromQuery[str | None] = None,
                              limit: FromQuery[int | None] = None) -> ItemsPage[Award]:
        """The resident's awards, newest first."""
        resident = await resident_for(earning, principal, resident_id)
        page = await earning.awards(resident, cursor, limit)
        return ItemsPage([shaped(Award, row) for row in page.items], page.next_cursor)

    @get("/{resident_id:int}/totals", responses=problems(READ_RESIDENT, earning_errors.InvalidPeriod))
    async def resident_totals(self, earning: Service[Earning], principal: Caller, resident_id: FromPath[int],
                              period: FromQuery[str | None] = None) -> Totals:
        """Activities, minutes and points of a `period` (YYYY, YYYY-MM or YYYY-MM-DD; default this month)."""
        resident = await resident_for(earning, principal, resident_id)
        return shaped(Totals, await earning.totals(resident, period))


class ActivityTypesController(Controller):
    """Activity types and the versions of their award rules."""
    path = "/v1/activity-types"
    tags = ["activity types"]

    @get(guards=[roles(*READERS, "resident")])
    async def list_activity_types(self, earning: Service[Earning], principal: Caller,
                                  realm: FromQuery[str]) -> ActivityTypesOut:
        principal.require(realm, *READERS, "resident")
        types = await earning.activity_types(realm)
        return ActivityTypesOut(items=[shaped(ActivityType, row) for row in types], next_cursor=None)

    @get("/{code:str}", guards=[roles(*READERS, "resident")],
         responses=problems(earning_errors.ActivityTypeNotFound))
    async def read_activity_type(self, earning: Service[Earning], principal: Caller, code: FromPath[str],
                                 realm: FromQuery[str]) -> ActivityTypeDetail:
        principal.require(realm, *READERS, "resident")
        return activity_type_detail(await earning.activity_type(realm, code))

    @post(status_code=201, guards=[roles("admin")],
          responses=problems(WRITE_RULE, ledger_errors.InvalidInput, ledger_errors.RealmNotFound,
                             earning_errors.ActivityTypeExists))
    async def create_activity_type(self, earning: Service[Earning], principal: Caller,
                                   data: JSONBody[ActivityTypeIn]) -> ActivityTypeDetail:
        principal.require(data.realm, "admin")
        made = await earning.create_activity_type(data.realm, data.code, data.name, data.rule.rule(),
                                                  principal.actor)
        return activity_type_detail(made)

    @post("/{code:str}/rules", status_code=201, guards=[roles("admin")],
          responses=problems(WRITE_RULE, earning_errors.UnknownActivityType))
    async def change_rule(self, earning: Service[Earning], principal: Caller, code: FromPath[str],
                          realm: FromQuery[str], data: JSONBody[RuleIn]) -> ActivityTypeDetail:
        """A new version of the type's rule; earlier awards keep theirs."""
        principal.require(realm, "admin")
        return activity_type_detail(await earning.change_rule(realm, code, data.rule(), principal.actor))


def activity_type_detail(row: dict[str, Any]) -> ActivityTypeDetail:
    return decoded(ActivityTypeDetail, row)


class ActivitiesController(Controller):
    """Activities (created, listed, published or cancelled) and their attendance."""
    path = "/v1/activities"
    tags = ["activities"]

    @post(status_code=201, guards=[roles("admin", "organizer")], responses=problems(WRITE_ACTIVITY))
    async def create_activity(self, earning: Service[Earning], principal: Caller,
                              data: JSONBody[ActivityIn]) -> Activity:
        principal.require(data.realm, "admin", "organizer")
        principal.require_station(data.realm, data.station_id)
        made = await earning.create_activity(
            data.realm, data.activity_type, data.station_id, data.title, data.starts_at, data.ends_at,
            principal.actor, data.details())
        return activity_of(made)

    @get(guards=[roles(*READERS, "resident")],
         responses=problems(PAGING, ledger_errors.RealmNotFound, earning_errors.ResidentNotFound))
    async def list_activities(self, earning: Service[Earning], ledger: Service[Ledger], principal: Caller,
                              realm: FromQuery[str], station: FromQuery[int | None] = None,
                              upcoming: FromQuery[bool] = False,
                              activity_type: Annotated[str | None, QueryParameter(name="type")] = None,
                              day: Annotated[str | None, QueryParameter(name="date")] = None,
                              cursor: FromQuery[str | None] = None,
                              limit: FromQuery[int | None] = None) -> ItemsPage[Activity]:
        """`upcoming=true` (always, for residents): what is on, nearest places first, with
        the points on offer; filter by `type` and `date` (YYYY-MM-DD, realm time).
        Otherwise the realm's activities as stored, oldest first."""
        if upcoming or principal.role == "resident":
            return await upcoming_activities(earning, principal, realm, activity_type, day, cursor, limit)
        principal.require(realm, *READERS)
        page = await earning.activities(realm, scoped_station(principal, station), cursor, limit)
        return ItemsPage([activity_of(row) for row in page.items], page.next_cursor)

    @get("/{activity_id:int}", guards=[roles(*READERS, "resident")],
         responses=problems(earning_errors.ActivityNotFound))
    async def read_activity(self, earning: Service[Earning], principal: Caller,
                            activity_id: FromPath[int]) -> Activity:
        """Residents see it as listed (points on offer, their sign-up, check-in and award);
        organizers, admins and auditors as stored."""
        if principal.role == "resident":
            activity = await visible_activity(earning, principal, activity_id)
            return activity_of(await earning.listed_activity(activity, principal.resident_id))
        return activity_of(await scoped_activity(earning, principal, activity_id, *READERS))

    @post("/{activity_id:int}/status", status_code=200, guards=[roles("admin", "organizer")],
          responses=problems(earning_errors.ActivityNotFound, earning_errors.ActivityStatusInvalid))
    async def set_activity_status(self, earning: Service[Earning], principal: Caller, activity_id: FromPath[int],
                                  data: JSONBody[ActivityStatusIn]) -> Activity:
        """Publish a draft, or cancel (closing, which awards, is `/close`)."""
        activity = await scoped_activity(earning, principal, activity_id, "admin", "organizer")
        return activity_of(await earning.set_activity_status(activity, data.status))

    @post("/{activity_id:int}/attendance", status_code=200, guards=[roles("admin", "organizer")],
          responses=problems(earning_errors.ActivityNotFound, earning_errors.NoRecords,
                             earning_errors.TooManyRecords, earning_errors.ActivityNotStarted))
    async def record_attendance(self, earning: Service[Earning], principal: Caller, activity_id: FromPath[int],
                                data: JSONBody[AttendanceIn],
                                idempotency_key: IdempotencyKey = None) -> Response[AttendanceOut]:
        """Award minutes to residents; a record refused is answered in `results`, the others
        are awarded. A retry under the same Idempotency-Key answers the first results
        (`Idempotent-Replayed: true`)."""
        key = required_idempotency_key(idempotency_key)
        activity = await scoped_activity(earning, principal, activity_id, "admin", "organizer")
        outcome = await earning.record_attendance(
            activity, [(r.resident_id, r.minutes) for r in data.records], principal.actor, key)
        body = outcome.body()
        return replayable(AttendanceOut(
            activity_id=body["activity_id"], results=msgspec.convert(body["results"], list[AttendanceResult]),
            awarded=body["awarded"], refused=body["refused"], points=body["points"]), outcome.replayed, 200)


class BudgetsController(Controller):
    """The realm's award budgets, funding them, and the leaderboards."""
    path = "/v1"
    tags = ["budgets"]

    @get("/budgets", guards=[roles("admin", "auditor")], responses=problems(ledger_errors.RealmNotFound))
    async def read_budgets(self, earning: Service[Earning], principal: Caller, realm: FromQuery[str]) -> BudgetsOut:
        """Per asset: funded, spent on awards, otherwise moved, and what remains."""
        principal.require(realm, "admin", "auditor")
        budgets = await earning.budgets(realm)
        return BudgetsOut(realm=realm, items=[shaped(Budget, row) for row in budgets], next_cursor=None)

    @post("/budgets/funding", status_code=201, guards=[roles("admin")],
          responses=problems(earning_errors.UnknownAsset, ledger_errors.AmountOutOfRange,
                             ledger_errors.AccountNotFound))
    async def fund_budget(self, earning: Service[Earning], principal: Caller, data: JSONBody[FundingIn],
                          idempotency_key: IdempotencyKey = None) -> Response[Entry]:
        """A `fund` entry into the realm's budget of the asset; a retry answers the first
        entry (`Idempotent-Replayed: true`)."""
        principal.require(data.realm, "admin")
        key = required_idempotency_key(idempotency_key)
        entry = await earning.fund_budget(data.realm, data.asset, data.amount, principal.actor, key, data.memo)
        return replayable(entry_of(entry), bool(entry.get("replayed")))

    @get("/leaderboards", guards=[roles(*READERS, "resident")],
         responses=problems(PAGING, earning_errors.InvalidPeriod, ledger_errors.RealmNotFound))
    async def leaderboard(self, earning: Service[Earning], principal: Caller, realm: FromQuery[str],
                          station: FromQuery[int | None] = None, period: FromQuery[str | None] = None,
                          order: FromQuery[str] = "points", cursor: FromQuery[str | None] = None,
                          limit: FromQuery[int | None] = None) -> LeaderboardOut:
        """Residents by points (or minutes) in a period, of the realm or one station."""
        principal.require(realm, *READERS, "resident")
        board = await earning.leaderboard(realm, station, period, order, cursor, limit)
        if principal.role == "resident":   # other residents: masked names, no codes or ids (issue 16 item 5)
            board["items"] = [public_leaderboard_row(row, principal.resident_id) for row in board["items"]]
        return decoded(LeaderboardOut, board)


def entry_of(row: dict[str, Any]) -> Entry:
    return decoded(Entry, row)   # the entry as the database's JSON


ROUTES = [PlacesController, ResidentsController, ActivityTypesController, ActivitiesController,
          BudgetsController]
