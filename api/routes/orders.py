"""The service loop over HTTP: volunteers (apply, approve), service requests (点单 order,
派单 dispatch, 接单 accept/decline/done, 评单 confirm with a rating, cancel), the dispatch
queue with suggested volunteers, and the realm's loop settings.

Every step is an idempotent POST (`Idempotency-Key`); its actor is checked against the
locked request in orders/ (only the dispatched volunteer accepts, declines or marks done;
the requester, or an organizer of its station for them, confirms and cancels)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

import msgspec
from litestar import Controller, Response, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody

from api import service_loop
from api.auth import Principal, roles
from api.errors import problems
from api.routes.common import (PAGING, Caller, IdempotencyKey, ItemsPage, Service, acting_for, replayable,
                               required_idempotency_key, shaped)
from earning import errors as earning_errors
from earning.service import Earning
from feedback.service import Feedback
from ledger import errors
from orders import errors as order_errors
from orders import model
from orders.service import Orders, Outcome

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
    award_day: date | None = None         # volunteer: the realm day it counts on, under the 志愿 rule's daily cap


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
    # what confirming paid the volunteer: the 志愿 rule's points for the minutes, never
    # past what its daily cap left that day (0: the cap was reached; no volunteer award)
    volunteer_points: int | None = None
    awards: list[AwardOut] = []
    suggestions: list[SuggestionOut] = []


ACTING_FOR = (errors.Forbidden, errors.InvalidInput, earning_errors.ResidentNotFound)
VOLUNTEER_APPLIED = (order_errors.InvalidVolunteer, order_errors.UnknownSkill, order_errors.VolunteerExists)
REQUEST_MADE = (order_errors.InvalidServiceRequest, order_errors.UnknownSkill, order_errors.WindowInvalid,
                errors.InvalidTimestamp, earning_errors.ResidentNotFound)
STEP = (order_errors.ServiceRequestNotFound, order_errors.TransitionNotAllowed, order_errors.ServiceRequestClosed)
VOLUNTEER_STEP = (*STEP, order_errors.NotDispatchedToYou, order_errors.RequestNotDispatched)
CONFIRMED = (*STEP, order_errors.RequestNotDone, order_errors.RequestAlreadyConfirmed,
             order_errors.RatingOutOfRange, order_errors.InvalidServiceRequest, order_errors.ServiceAwardExists,
             earning_errors.ActivityTypeNotFound, errors.InsufficientPoints)


def _average(row: dict[str, Any]) -> float | None:
    ratings, total = row.get("ratings") or 0, row.get("total") or 0
    return round(total / ratings, 2) if ratings else None


def volunteer_out(row: dict[str, Any]) -> VolunteerOut:
    return shaped(VolunteerOut, {**row, "ratings": row.get("ratings") or 0, "average": _average(row)})


def suggestion_out(row: dict[str, Any]) -> SuggestionOut:
    return shaped(SuggestionOut, {**row, "ratings": row.get("ratings") or 0, "average": _average(row)})


def request_out(actor: model.Actor, row: dict[str, Any], awards: list[dict[str, Any]] | None = None) -> ServiceRequestOut:
    shown = model.visible(actor, row)
    if awards is not None and row["state"] == "confirmed":
        shown = {**shown, "volunteer_points": sum(a["points"] for a in awards if a["kind"] == "volunteer")}
    return shaped(ServiceRequestOut, {**shown, "awards": [shaped(AwardOut, award) for award in awards or []],
                                      "suggestions": [suggestion_out(s) for s in row.get("suggestions", [])]})


def actor_of(principal: Principal) -> model.Actor:
    return model.Actor(principal.role, principal.realm, principal.actor, principal.resident_id,
                       principal.station_id)


def settings_out(settings: model.Settings) -> ServiceSettingsIO:
    return ServiceSettingsIO(list(settings.skills), settings.rating_reward_points, settings.alert_ratings_min)


async def stepped(orders: Orders, actor: model.Actor, outcome: Outcome,
                  status_code: int = 200) -> Response[ServiceRequestOut]:
    awards = await orders.awards(outcome.request)
    return replayable(request_out(actor, outcome.request, awards), outcome.replayed, status_code)


class ServiceSettingsController(Controller):
    path = "/v1/realms/{realm:str}/service-settings"
    tags = ["service loop"]

    @get(summary="The realm's service loop settings: skills, rating reward, alert threshold",
         responses=problems(errors.RealmNotFound))
    async def read_service_settings(self, orders: Service[Orders], principal: Caller,
                                    realm: FromPath[str]) -> ServiceSettingsIO:
        principal.require(realm, "admin", "organizer", "resident", "auditor")
        return settings_out(await orders.settings(realm))

    @put(summary="Change the realm's service loop settings (admin)", guards=[roles("admin")],
         responses=problems(errors.RealmNotFound, order_errors.InvalidServiceSettings))
    async def change_service_settings(self, orders: Service[Orders], principal: Caller, realm: FromPath[str],
                                      data: JSONBody[ServiceSettingsIO]) -> ServiceSettingsIO:
        principal.require_realm(realm)
        changed = await orders.put_settings(
            realm, model.Settings(tuple(data.skills), data.rating_reward_points, data.alert_ratings_min),
            principal.actor)
        return settings_out(changed)


class VolunteerController(Controller):
    path = "/v1/volunteers"
    tags = ["service loop"]

    @post(status_code=201, summary="Apply as a volunteer: skills, stations served, availability",
          guards=[roles("resident", "organizer")], responses=problems(ACTING_FOR, VOLUNTEER_APPLIED))
    async def apply_volunteer(self, orders: Service[Orders], earning: Service[Earning], principal: Caller,
                              data: JSONBody[VolunteerIn], idempotency_key: IdempotencyKey = None) -> VolunteerOut:
        """A resident applies for itself, an organizer for a resident it names; applying
        again while pending changes the application."""
        required_idempotency_key(idempotency_key)
        realm, resident_id = await acting_for(earning, principal, data.resident_id)
        return volunteer_out(await orders.apply(realm, resident_id, data.skills, data.station_ids,
                                                data.availability))

    @post("/{resident_id:int}/decision", status_code=200, guards=[roles("organizer", "admin")],
          summary="Approve or reject a volunteer (organizers of a station it serves, or of the realm)",
          responses=problems(earning_errors.ResidentNotFound, order_errors.VolunteerNotFound))
    async def decide_volunteer(self, orders: Service[Orders], earning: Service[Earning], principal: Caller,
                               resident_id: FromPath[int], data: JSONBody[DecisionIn],
                               idempotency_key: IdempotencyKey = None) -> VolunteerOut:
        required_idempotency_key(idempotency_key)
        resident = await earning.resident(resident_id)
        principal.require_realm(resident["realm"])
        found = await orders.volunteer(resident["realm"], resident_id)
        if principal.role == "organizer" and principal.station_id not in (None, *found["station_ids"]):
            raise errors.Forbidden(f"this token is scoped to station {principal.station_id}")
        return volunteer_out(await orders.decide(resident["realm"], resident_id, data.approve, principal.actor))

    @get(summary="Volunteers of a realm (organizers, admins, auditors), by status or station",
         guards=[roles("admin", "organizer", "auditor")], responses=problems(PAGING))
    async def list_volunteers(self, orders: Service[Orders], principal: Caller, realm: FromQuery[str],
                              status: FromQuery[str | None] = None, station_id: FromQuery[int | None] = None,
                              cursor: FromQuery[str | None] = None,
                              limit: FromQuery[int | None] = None) -> ItemsPage[VolunteerOut]:
        principal.require_realm(realm)
        if principal.role == "organizer" and principal.station_id is not None:
            station_id = principal.station_id
        page = await orders.volunteers(realm, status, station_id, cursor, limit)
        return ItemsPage([volunteer_out(row) for row in page.items], page.next_cursor)

    @get("/{resident_id:int}", summary="One volunteer: skills, stations, status, open tasks, rating",
         responses=problems(earning_errors.ResidentNotFound, order_errors.VolunteerNotFound))
    async def read_volunteer(self, orders: Service[Orders], earning: Service[Earning], principal: Caller,
                             resident_id: FromPath[int]) -> VolunteerOut:
        resident = await earning.resident(resident_id)
        principal.require_resident(resident["realm"], resident["id"], resident["station_id"])
        return volunteer_out(await orders.volunteer(resident["realm"], resident_id))


class ServiceRequestController(Controller):
    path = "/v1/service-requests"
    tags = ["service loop"]

    @post(status_code=201, summary="Order a service (点单): a resident, or an organizer for a resident",
          guards=[roles("resident", "organizer")], responses=problems(ACTING_FOR, REQUEST_MADE))
    async def order_service(self, orders: Service[Orders], earning: Service[Earning], principal: Caller,
                            data: JSONBody[ServiceRequestIn],
                            idempotency_key: IdempotencyKey = None) -> Response[ServiceRequestOut]:
        """A replay answers the request as it is now (`Idempotent-Replayed: true`)."""
        key = required_idempotency_key(idempotency_key)
        realm, resident_id = await acting_for(earning, principal, data.resident_id)
        resident = await earning.resident(resident_id)
        station_id = data.station_id if data.station_id is not None else resident["station_id"]
        principal.require_station(realm, station_id)
        new = model.NewRequest(resident_id, station_id, data.category, data.description, data.wanted_from,
                               data.wanted_until, data.notes, data.urgent)
        actor = actor_of(principal)
        return await stepped(orders, actor, await orders.create(realm, new, actor, key), status_code=201)

    @get(summary="Service requests: mine (requested), my tasks (assigned), or a station's",
         responses=problems(PAGING))
    async def list_service_requests(self, orders: Service[Orders], principal: Caller, realm: FromQuery[str],
                                    view: FromQuery[str] = "requested", station_id: FromQuery[int | None] = None,
                                    cursor: FromQuery[str | None] = None,
                                    limit: FromQuery[int | None] = None) -> ItemsPage[ServiceRequestOut]:
        if view not in VIEWS:
            raise errors.InvalidInput(f"view is one of {', '.join(VIEWS)}")
        if view == "station":
            principal.require(realm, "admin", "organizer", "auditor")
            station_id = principal.station_id if principal.station_id is not None else station_id
        else:
            principal.require(realm, "resident")
        page = await orders.requests(realm, view, principal.resident_id, station_id, cursor, limit)
        actor = actor_of(principal)
        return ItemsPage([request_out(actor, row) for row in page.items], page.next_cursor)

    @get("/{request_id:int}", summary="One service request (notes only for its requester, dispatchers, volunteer)",
         responses=problems(order_errors.ServiceRequestNotFound))
    async def read_service_request(self, orders: Service[Orders], principal: Caller,
                                   request_id: FromPath[int]) -> ServiceRequestOut:
        found = await orders.request(request_id)
        actor = actor_of(principal)
        if not model.may_read(actor, found):
            raise errors.Forbidden("this service request is not yours to see")
        return request_out(actor, found, await orders.awards(found))

    @post("/{request_id:int}/dispatch", status_code=200, guards=[roles("organizer", "admin")],
          summary="Dispatch (派单) an open request to an approved volunteer of the realm",
          responses=problems(STEP, order_errors.RequestNotOpen, order_errors.VolunteerOtherRealm,
                             order_errors.VolunteerNotApproved, order_errors.VolunteerIsRequester))
    async def dispatch(self, orders: Service[Orders], principal: Caller, request_id: FromPath[int],
                       data: JSONBody[DispatchIn],
                       idempotency_key: IdempotencyKey = None) -> Response[ServiceRequestOut]:
        key = required_idempotency_key(idempotency_key)
        return await take(orders, principal, request_id, model.Step("dispatch", volunteer_id=data.volunteer_id), key)

    @post("/{request_id:int}/accept", status_code=200,
          summary="Accept (接单): the dispatched volunteer", responses=problems(VOLUNTEER_STEP))
    async def accept(self, orders: Service[Orders], principal: Caller, request_id: FromPath[int],
                     idempotency_key: IdempotencyKey = None) -> Response[ServiceRequestOut]:
        key = required_idempotency_key(idempotency_key)
        return await take(orders, principal, request_id, model.Step("accept"), key)

    @post("/{request_id:int}/decline", status_code=200,
          summary="Decline: the dispatched volunteer; the request goes back to the queue",
          responses=problems(VOLUNTEER_STEP))
    async def decline(self, orders: Service[Orders], principal: Caller, request_id: FromPath[int],
                      idempotency_key: IdempotencyKey = None) -> Response[ServiceRequestOut]:
        key = required_idempotency_key(idempotency_key)
        return await take(orders, principal, request_id, model.Step("decline"), key)

    @post("/{request_id:int}/done", status_code=200,
          summary="Mark done with the minutes spent (no more than the wanted window): the volunteer",
          responses=problems(STEP, order_errors.NotDispatchedToYou, order_errors.RequestNotAccepted,
                             order_errors.MinutesRequired, order_errors.MinutesBeyondWindow))
    async def done(self, orders: Service[Orders], principal: Caller, request_id: FromPath[int],
                   data: JSONBody[DoneIn], idempotency_key: IdempotencyKey = None) -> Response[ServiceRequestOut]:
        key = required_idempotency_key(idempotency_key)
        return await take(orders, principal, request_id, model.Step("done", minutes=data.minutes), key)

    @post("/{request_id:int}/confirm", status_code=200, guards=[roles("resident", "organizer", "admin")],
          summary="Confirm and rate (评单): pays the volunteer by the 志愿 rule, once; the requester for rating",
          responses=problems(CONFIRMED))
    async def confirm(self, orders: Service[Orders], earning: Service[Earning], feedback: Service[Feedback],
                      principal: Caller, request_id: FromPath[int], data: JSONBody[ConfirmIn],
                      idempotency_key: IdempotencyKey = None) -> Response[ServiceRequestOut]:
        key = required_idempotency_key(idempotency_key)
        actor = actor_of(principal)
        found = await orders.request(request_id)
        step = model.Step("confirm", rating=data.rating, comment=data.comment)
        model.check_actor(step.name, actor, found)
        outcome = await service_loop.confirm(orders, earning, feedback, found, step, actor, key)
        return await stepped(orders, actor, outcome)

    @post("/{request_id:int}/cancel", status_code=200, guards=[roles("resident", "organizer", "admin")],
          summary="Cancel before it is done: the requester, or an organizer for them",
          responses=problems(STEP, order_errors.RequestCannotCancel))
    async def cancel(self, orders: Service[Orders], principal: Caller, request_id: FromPath[int],
                     idempotency_key: IdempotencyKey = None) -> Response[ServiceRequestOut]:
        key = required_idempotency_key(idempotency_key)
        return await take(orders, principal, request_id, model.Step("cancel"), key)


async def take(orders: Orders, principal: Principal, request_id: int, step: model.Step,
               key: str) -> Response[ServiceRequestOut]:
    """One step of a request by the caller (its actor checked again on the locked row)."""
    actor = actor_of(principal)
    model.check_actor(step.name, actor, await orders.request(request_id))
    return await stepped(orders, actor, await orders.take(request_id, step, actor, key))


class DispatchQueueController(Controller):
    path = "/v1/dispatch-queue"
    tags = ["service loop"]

    @get(summary="The dispatch queue: open requests, most urgent and oldest first, with suggested volunteers",
         guards=[roles("admin", "organizer")], responses=problems(PAGING))
    async def dispatch_queue(self, orders: Service[Orders], principal: Caller, realm: FromQuery[str],
                             station_id: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
                             limit: FromQuery[int | None] = None) -> ItemsPage[ServiceRequestOut]:
        principal.require_realm(realm)
        if principal.station_id is not None:
            station_id = principal.station_id
        page = await orders.queue(realm, station_id, cursor, limit)
        actor = actor_of(principal)
        return ItemsPage([request_out(actor, row) for row in page.items], page.next_cursor)


ROUTES = [ServiceSettingsController, VolunteerController, ServiceRequestController, DispatchQueueController]
