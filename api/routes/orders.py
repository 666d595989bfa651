"""The service loop over HTTP: volunteers (apply, approve), service requests (点单 order,
派单 dispatch, 接单 accept/decline/done, 评单 confirm with a rating, cancel), the dispatch
queue with suggested volunteers, and the realm's loop settings.

Every step is an idempotent POST (`Idempotency-Key`); its actor is checked against the
locked request in orders/ (only the dispatched volunteer accepts, declines or marks done;
the requester, or an organizer of its station for them, confirms and cancels)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody

from api import service_loop
from api.auth import Principal
from api.routes.common import Caller, IdempotencyKey, required_idempotency_key, acting_for, services
from ledger.idempotency import REPLAYED_HEADER
from ledger import errors
from orders import model
from orders.service import Outcome

VIEWS = ("requested", "assigned", "station")


class ServiceSettingsIO(msgspec.Struct, forbid_unknown_fields=True):
    skills: list[str]
    rating_reward_points: int = model.RATING_REWARD_POINTS_DEFAULT
    alert_ratings_min: int = model.ALERT_RATINGS_MIN_DEFAULT


class VolunteerIn(msgspec.Struct, forbid_unknown_fields=True):
    skills: list[str]
    station_ids: list[int]
    availability: str | None = None
    resident_id: int | None = None        # an organizer names the resident; a resident applies itself


class DecisionIn(msgspec.Struct, forbid_unknown_fields=True):
    approve: bool


class VolunteerOut(msgspec.Struct):
    realm: str
    resident_id: int
    code: str
    skills: list[str]
    station_ids: list[int]
    status: str
    open_tasks: int
    ratings: int
    created_at: datetime
    average: float | None = None
    display_name: str | None = None
    availability: str | None = None
    decided_at: datetime | None = None


class VolunteersOut(msgspec.Struct):
    items: list[VolunteerOut]
    next_cursor: str | None


class ServiceRequestIn(msgspec.Struct, forbid_unknown_fields=True):
    category: str
    description: str
    wanted_from: datetime
    wanted_until: datetime
    station_id: int | None = None         # none: the requester's own station
    notes: str | None = None              # address or notes: seen by the requester, dispatchers, the volunteer
    urgent: bool = False
    resident_id: int | None = None        # an organizer orders for a resident without a phone


class DispatchIn(msgspec.Struct, forbid_unknown_fields=True):
    volunteer_id: int


class DoneIn(msgspec.Struct, forbid_unknown_fields=True):
    minutes: int | None = None


class ConfirmIn(msgspec.Struct, forbid_unknown_fields=True):
    rating: int | None = None             # 1 to 5; none: confirmed without a rating
    comment: str | None = None


class AwardOut(msgspec.Struct):
    kind: str                             # volunteer or rating
    resident_id: int
    entry_id: int
    asset: str
    points: int


class SuggestionOut(msgspec.Struct):
    resident_id: int
    code: str
    open_tasks: int
    ratings: int
    average: float | None = None
    display_name: str | None = None


class ServiceRequestOut(msgspec.Struct):
    realm: str
    id: int
    requester_id: int
    station_id: int
    category: str
    description: str
    urgent: bool
    wanted_from: datetime
    wanted_until: datetime
    state: str
    overdue: bool
    created_at: datetime
    updated_at: datetime
    notes: str | None = None
    volunteer_id: int | None = None
    dispatched_at: datetime | None = None
    accepted_at: datetime | None = None
    done_at: datetime | None = None
    minutes: int | None = None
    confirmed_at: datetime | None = None
    rating: int | None = None
    comment: str | None = None
    queue_note: str | None = None
    volunteer_points: int | None = None
    awards: list[AwardOut] = []
    suggestions: list[SuggestionOut] = []


class ServiceRequestsOut(msgspec.Struct):
    items: list[ServiceRequestOut]
    next_cursor: str | None


def _average(row: dict[str, Any]) -> float | None:
    ratings, total = row.get("ratings") or 0, row.get("total") or 0
    return round(total / ratings, 2) if ratings else None


def volunteer_out(row: dict[str, Any]) -> VolunteerOut:
    shaped = {**row, "ratings": row.get("ratings") or 0, "average": _average(row)}
    return msgspec.convert({k: v for k, v in shaped.items() if k in VolunteerOut.__struct_fields__}, VolunteerOut)


def request_out(actor: model.Actor, row: dict[str, Any], awards: list[dict[str, Any]] | None = None) -> ServiceRequestOut:
    shown = model.visible(actor, row)
    suggestions = [SuggestionOut(resident_id=s["resident_id"], code=s["code"], open_tasks=s["open_tasks"],
                                 ratings=s.get("ratings") or 0, average=_average(s),
                                 display_name=s.get("display_name"))
                   for s in row.get("suggestions", [])]
    fields = {k: v for k, v in shown.items() if k in ServiceRequestOut.__struct_fields__ and k != "suggestions"}
    out = msgspec.convert(fields, ServiceRequestOut)
    out.suggestions = suggestions
    out.awards = [AwardOut(**award) for award in awards or []]
    return out


def actor_of(principal: Principal) -> model.Actor:
    return model.Actor(principal.role, principal.realm, principal.actor, principal.resident_id,
                       principal.station_id)


def stepped(actor: model.Actor, outcome: Outcome, awards: list[dict[str, Any]] | None = None,
            status_code: int = 200) -> Response[ServiceRequestOut]:
    headers = {REPLAYED_HEADER: "true"} if outcome.replayed else {}
    return Response(request_out(actor, outcome.request, awards), status_code=status_code, headers=headers)


async def readable_request(request: Request, principal: Principal, request_id: int) -> dict[str, Any]:
    found = await services(request).orders.request(request_id)
    if not model.may_read(actor_of(principal), found):
        raise errors.Forbidden("this service request is not yours to see")
    return found


async def volunteer_resident(request: Request, principal: Principal, resident_id: int) -> dict[str, Any]:
    """The resident a volunteer record is about, after the one resident scope check."""
    resident = await services(request).earning.resident(resident_id)
    principal.require_resident(resident["realm"], resident["id"], resident["station_id"])
    return resident


class ServiceSettingsController(Controller):
    path = "/v1/realms/{realm:str}/service-settings"
    tags = ["service loop"]

    @get(summary="The realm's service loop settings: skills, rating reward, alert threshold")
    async def read(self, request: Request, principal: Caller, realm: FromPath[str]) -> ServiceSettingsIO:
        principal.require(realm, "admin", "organizer", "resident", "auditor")
        found = await services(request).orders.settings(realm)
        return ServiceSettingsIO(list(found.skills), found.rating_reward_points, found.alert_ratings_min)

    @put(summary="Change the realm's service loop settings (admin)")
    async def change(self, request: Request, principal: Caller, realm: FromPath[str],
                     data: JSONBody[ServiceSettingsIO]) -> ServiceSettingsIO:
        principal.require(realm, "admin")
        changed = await services(request).orders.put_settings(
            realm, model.Settings(tuple(data.skills), data.rating_reward_points, data.alert_ratings_min),
            principal.actor)
        return ServiceSettingsIO(list(changed.skills), changed.rating_reward_points, changed.alert_ratings_min)


class VolunteerController(Controller):
    path = "/v1/volunteers"
    tags = ["service loop"]

    @post(status_code=201, summary="Apply as a volunteer: skills, stations served, availability")
    async def apply(self, request: Request, principal: Caller, data: JSONBody[VolunteerIn],
                    idempotency_key: IdempotencyKey = None) -> VolunteerOut:
        required_idempotency_key(idempotency_key)
        realm, resident_id = await acting_for(services(request).earning, principal, data.resident_id)
        return volunteer_out(await services(request).orders.apply(
            realm, resident_id, data.skills, data.station_ids, data.availability))

    @post("/{resident_id:int}/decision", status_code=200,
          summary="Approve or reject a volunteer (organizers of a station it serves, or of the realm)")
    async def decide(self, request: Request, principal: Caller, resident_id: FromPath[int],
                     data: JSONBody[DecisionIn], idempotency_key: IdempotencyKey = None) -> VolunteerOut:
        required_idempotency_key(idempotency_key)
        principal.require_role("organizer", "admin")
        resident = await services(request).earning.resident(resident_id)
        principal.require_realm(resident["realm"])
        found = await services(request).orders.volunteer(resident["realm"], resident_id)
        if principal.role == "organizer" and principal.station_id not in (None, *found["station_ids"]):
            raise errors.Forbidden(f"this token is scoped to station {principal.station_id}")
        return volunteer_out(await services(request).orders.decide(
            resident["realm"], resident_id, data.approve, principal.actor))

    @get(summary="Volunteers of a realm (organizers, admins, auditors), by status or station")
    async def list(self, request: Request, principal: Caller, realm: FromQuery[str],
                   status: FromQuery[str | None] = None, station_id: FromQuery[int | None] = None,
                   cursor: FromQuery[str | None] = None, limit: FromQuery[int | None] = None) -> VolunteersOut:
        principal.require(realm, "admin", "organizer", "auditor")
        if principal.role == "organizer" and principal.station_id is not None:
            station_id = principal.station_id
        page = await services(request).orders.volunteers(realm, status, station_id, cursor, limit)
        return VolunteersOut([volunteer_out(row) for row in page.items], page.next_cursor)

    @get("/{resident_id:int}", summary="One volunteer: skills, stations, status, open tasks, rating")
    async def read(self, request: Request, principal: Caller, resident_id: FromPath[int]) -> VolunteerOut:
        resident = await volunteer_resident(request, principal, resident_id)
        return volunteer_out(await services(request).orders.volunteer(resident["realm"], resident_id))


class ServiceRequestController(Controller):
    path = "/v1/service-requests"
    tags = ["service loop"]

    @post(status_code=201, summary="Order a service (点单): a resident, or an organizer for a resident")
    async def create(self, request: Request, principal: Caller, data: JSONBody[ServiceRequestIn],
                     idempotency_key: IdempotencyKey = None) -> Response[ServiceRequestOut]:
        key = required_idempotency_key(idempotency_key)
        realm, resident_id = await acting_for(services(request).earning, principal, data.resident_id)
        resident = await services(request).earning.resident(resident_id)
        station_id = data.station_id if data.station_id is not None else resident["station_id"]
        principal.require_station(realm, station_id)
        new = model.NewRequest(resident_id, station_id, data.category, data.description, data.wanted_from,
                               data.wanted_until, data.notes, data.urgent)
        actor = actor_of(principal)
        outcome = await services(request).orders.create(realm, new, actor, key)
        return stepped(actor, outcome, status_code=201)

    @get(summary="Service requests: mine (requested), my tasks (assigned), or a station's")
    async def list(self, request: Request, principal: Caller, realm: FromQuery[str],
                   view: FromQuery[str] = "requested", station_id: FromQuery[int | None] = None,
                   cursor: FromQuery[str | None] = None,
                   limit: FromQuery[int | None] = None) -> ServiceRequestsOut:
        if view not in VIEWS:
            raise errors.InvalidInput(f"view is one of {', '.join(VIEWS)}")
        if view == "station":
            principal.require(realm, "admin", "organizer", "auditor")
            station_id = principal.station_id if principal.station_id is not None else station_id
        else:
            principal.require(realm, "resident")
        page = await services(request).orders.requests(realm, view, principal.resident_id, station_id,
                                                       cursor, limit)
        actor = actor_of(principal)
        return ServiceRequestsOut([request_out(actor, row) for row in page.items], page.next_cursor)

    @get("/{request_id:int}", summary="One service request (notes only for its requester, dispatchers, volunteer)")
    async def read(self, request: Request, principal: Caller, request_id: FromPath[int]) -> ServiceRequestOut:
        found = await readable_request(request, principal, request_id)
        return request_out(actor_of(principal), found, await services(request).orders.awards(found))

    async def _step(self, request: Request, principal: Principal, request_id: int, step: model.Step,
                    idempotency_key: str | None) -> Response[ServiceRequestOut]:
        key = required_idempotency_key(idempotency_key)
        actor = actor_of(principal)
        found = await services(request).orders.request(request_id)
        model.check_actor(step.name, actor, found)
        if step.name == "confirm":
            outcome = await service_loop.confirm(services(request), found, step, actor, key)
        else:
            outcome = await services(request).orders.take(request_id, step, actor, key)
        return stepped(actor, outcome, await services(request).orders.awards(outcome.request))

    @post("/{request_id:int}/dispatch", status_code=200,
          summary="Dispatch (派单) an open request to an approved volunteer of the realm")
    async def dispatch(self, request: Request, principal: Caller, request_id: FromPath[int],
                       data: JSONBody[DispatchIn], idempotency_key: IdempotencyKey = None) -> Response[ServiceRequestOut]:
        return await self._step(request, principal, request_id, model.Step("dispatch", volunteer_id=data.volunteer_id),
                                idempotency_key)

    @post("/{request_id:int}/accept", status_code=200, summary="Accept (接单): the dispatched volunteer")
    async def accept(self, request: Request, principal: Caller, request_id: FromPath[int],
                     idempotency_key: IdempotencyKey = None) -> Response[ServiceRequestOut]:
        return await self._step(request, principal, request_id, model.Step("accept"), idempotency_key)

    @post("/{request_id:int}/decline", status_code=200,
          summary="Decline: the dispatched volunteer; the request goes back to the queue")
    async def decline(self, request: Request, principal: Caller, request_id: FromPath[int],
                      idempotency_key: IdempotencyKey = None) -> Response[ServiceRequestOut]:
        return await self._step(request, principal, request_id, model.Step("decline"), idempotency_key)

    @post("/{request_id:int}/done", status_code=200,
          summary="Mark done with the minutes spent (no more than the wanted window): the volunteer")
    async def done(self, request: Request, principal: Caller, request_id: FromPath[int], data: JSONBody[DoneIn],
                   idempotency_key: IdempotencyKey = None) -> Response[ServiceRequestOut]:
        return await self._step(request, principal, request_id, model.Step("done", minutes=data.minutes),
                                idempotency_key)

    @post("/{request_id:int}/confirm", status_code=200,
          summary="Confirm and rate (评单): pays the volunteer by the 志愿 rule, once; the requester for rating")
    async def confirm(self, request: Request, principal: Caller, request_id: FromPath[int],
                      data: JSONBody[ConfirmIn], idempotency_key: IdempotencyKey = None) -> Response[ServiceRequestOut]:
        return await self._step(request, principal, request_id,
                                model.Step("confirm", rating=data.rating, comment=data.comment), idempotency_key)

    @post("/{request_id:int}/cancel", status_code=200,
          summary="Cancel before it is done: the requester, or an organizer for them")
    async def cancel(self, request: Request, principal: Caller, request_id: FromPath[int],
                     idempotency_key: IdempotencyKey = None) -> Response[ServiceRequestOut]:
        return await self._step(request, principal, request_id, model.Step("cancel"), idempotency_key)


class DispatchQueueController(Controller):
    path = "/v1/dispatch-queue"
    tags = ["service loop"]

    @get(summary="The dispatch queue: open requests, most urgent and oldest first, with suggested volunteers")
    async def queue(self, request: Request, principal: Caller, realm: FromQuery[str],
                    station_id: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
                    limit: FromQuery[int | None] = None) -> ServiceRequestsOut:
        principal.require(realm, "admin", "organizer")
        if principal.station_id is not None:
            station_id = principal.station_id
        page = await services(request).orders.queue(realm, station_id, cursor, limit)
        actor = actor_of(principal)
        return ServiceRequestsOut([request_out(actor, row) for row in page.items], page.next_cursor)


ROUTES = [ServiceSettingsController, VolunteerController, ServiceRequestController, DispatchQueueController]
