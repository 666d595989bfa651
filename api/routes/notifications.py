"""Notifications (issue 16 item 3): each person's inbox (a resident's, a merchant's, the
realm staff's) with a badge count and mark-read; webhook endpoints an admin registers per
realm (the secret shown once), their delivery log and the replay of a failed delivery;
the event catalogue."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.routes.common import REPLAYED_HEADER, Caller, IdempotencyKey, required_idempotency_key, services
from ledger import errors
from notify import model
from notify.service import UNREAD_COUNT_CAP

STAFF = ("admin", "organizer", "auditor")


class NotificationOut(msgspec.Struct):
    id: int
    type: str
    title: str
    title_en: str
    payload: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


class NotificationPage(msgspec.Struct):
    items: list[NotificationOut]
    next_cursor: str | None
    unread: int


class UnreadOut(msgspec.Struct):
    unread: int              # capped: past UNREAD_COUNT_CAP the badge shows "99+"
    more: bool


class MarkedOut(msgspec.Struct):
    marked: int


class EventTypeOut(msgspec.Struct):
    type: str
    recipient: str


class WebhookIn(msgspec.Struct, forbid_unknown_fields=True):
    realm: str
    url: str
    event_types: list[str] = msgspec.field(default_factory=list)   # empty: every type


class WebhookActiveIn(msgspec.Struct, forbid_unknown_fields=True):
    active: bool


class WebhookOut(msgspec.Struct):
    id: int
    realm: str
    url: str
    event_types: list[str]
    active: bool
    created_by: str
    created_at: datetime


class WebhookCreated(msgspec.Struct):
    id: int
    realm: str
    url: str
    event_types: list[str]
    active: bool
    created_at: datetime
    secret: str              # shown once: sign-checking key for PointsBank-Signature
    signature_header: str = model.SIGNATURE_HEADER


class AttemptOut(msgspec.Struct):
    attempt: int
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryOut(msgspec.Struct):
    id: int
    realm: str
    endpoint_id: int
    event_id: int
    event_uid: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime
    give_up_at: datetime
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    log: list[AttemptOut] | None = None


class DeliveryPage(msgspec.Struct):
    items: list[DeliveryOut]
    next_cursor: str | None


def inbox_owner(principal: Caller, realm: str | None) -> tuple[str, str, int]:
    """(realm, recipient kind, recipient id) of the caller's inbox."""
    if principal.role == "resident":
        return principal.realm, "resident", principal.resident_id  # type: ignore[return-value]
    if principal.role == "merchant":
        return principal.realm, "merchant", principal.merchant_id  # type: ignore[return-value]
    place = realm or principal.realm
    if place is None:
        raise errors.InvalidInput("an all-realms admin names the realm of the inbox (?realm=)")
    principal.require(place, *STAFF)
    return place, "staff", 0


def notification_out(row: dict[str, Any]) -> NotificationOut:
    return NotificationOut(row["id"], row["type"], model.title(row["type"], row["payload"]),
                           model.title(row["type"], row["payload"], "en"), row["payload"], row["created_at"],
                           row["read_at"])


def delivery_out(row: dict[str, Any], log: list[dict[str, Any]] | None = None) -> DeliveryOut:
    fields = {name: row[name] for name in DeliveryOut.__struct_fields__ if name != "log"}
    return DeliveryOut(**fields, log=None if log is None else [AttemptOut(**a) for a in log])


def webhook_out(row: dict[str, Any]) -> WebhookOut:
    return WebhookOut(**{name: row[name] for name in WebhookOut.__struct_fields__})


class NotificationController(Controller):
    path = "/v1/notifications"
    tags = ["notifications"]

    @get("/")
    async def inbox(self, request: Request, principal: Caller, realm: FromQuery[str | None] = None,
                    cursor: FromQuery[str | None] = None, limit: FromQuery[int | None] = None,
                    unread_only: FromQuery[bool] = False) -> NotificationPage:
        """The caller's notifications, newest first, with the unread count."""
        place, kind, recipient = inbox_owner(principal, realm)
        inbox = services(request).inbox
        page = await inbox.page(place, kind, recipient, cursor, limit, unread_only)
        return NotificationPage([notification_out(row) for row in page.items], page.next_cursor,
                                await inbox.unread(place, kind, recipient))

    @get("/unread")
    async def unread(self, request: Request, principal: Caller, realm: FromQuery[str | None] = None) -> UnreadOut:
        """The badge: how many unread (capped)."""
        place, kind, recipient = inbox_owner(principal, realm)
        count = await services(request).inbox.unread(place, kind, recipient)
        return UnreadOut(min(count, UNREAD_COUNT_CAP), count > UNREAD_COUNT_CAP)

    @post("/{notification_id:int}/read", status_code=200)
    async def mark_read(self, request: Request, principal: Caller, notification_id: FromPath[int],
                        realm: FromQuery[str | None] = None, idempotency_key: IdempotencyKey = None) -> MarkedOut:
        """Mark one notification read (a retry marks nothing more: safe without a key)."""
        place, kind, recipient = inbox_owner(principal, realm)
        return MarkedOut(await services(request).inbox.mark_read(place, kind, recipient, notification_id))

    @post("/read", status_code=200)
    async def mark_all_read(self, request: Request, principal: Caller, realm: FromQuery[str | None] = None,
                            idempotency_key: IdempotencyKey = None) -> MarkedOut:
        """Mark every notification of the caller's inbox read."""
        place, kind, recipient = inbox_owner(principal, realm)
        return MarkedOut(await services(request).inbox.mark_read(place, kind, recipient, None))


class EventTypeController(Controller):
    path = "/v1/event-types"
    tags = ["notifications"]

    @get("/")
    async def catalogue(self, principal: Caller) -> list[EventTypeOut]:
        """Every event type this service emits, and whose inbox it reaches."""
        return [EventTypeOut(code, recipient) for code, recipient in sorted(model.EVENT_TYPES.items())]


class WebhookController(Controller):
    path = "/v1/webhooks"
    tags = ["webhooks"]

    @post("/", status_code=201)
    async def register(self, request: Request, principal: Caller, data: JSONBody[WebhookIn],
                       idempotency_key: IdempotencyKey = None) -> Response[WebhookCreated]:
        """Register an endpoint for the realm's events (filtered by type). The answer shows
        the signing secret once (and again only to a retry with the same key)."""
        principal.require(data.realm, "admin")
        key = required_idempotency_key(idempotency_key)
        made, replayed = await services(request).webhooks.register(data.realm, data.url, data.event_types,
                                                                   principal.actor, key)
        body = WebhookCreated(made["id"], made["realm"], made["url"], made["event_types"], made["active"],
                              made["created_at"], made["secret"])
        return Response(body, status_code=201, headers={REPLAYED_HEADER: "true"} if replayed else {})

    @get("/")
    async def list_webhooks(self, request: Request, principal: Caller, realm: FromQuery[str]) -> list[WebhookOut]:
        principal.require(realm, "admin", "auditor")
        return [webhook_out(row) for row in await services(request).webhooks.list(realm)]

    @post("/{webhook_id:int}/active", status_code=200)
    async def set_active(self, request: Request, principal: Caller, webhook_id: FromPath[int],
                         data: JSONBody[WebhookActiveIn], idempotency_key: IdempotencyKey = None) -> WebhookOut:
        """Pause or resume an endpoint (setting the same state again changes nothing)."""
        webhooks = services(request).webhooks
        endpoint = await webhooks.endpoint(webhook_id)
        principal.require(endpoint["realm"], "admin")
        return webhook_out(await webhooks.set_active(endpoint, data.active))

    @get("/{webhook_id:int}/deliveries")
    async def deliveries(self, request: Request, principal: Caller, webhook_id: FromPath[int],
                         status: FromQuery[str | None] = None, cursor: FromQuery[str | None] = None,
                         limit: FromQuery[int | None] = None) -> DeliveryPage:
        """The delivery log of one endpoint, newest first."""
        webhooks = services(request).webhooks
        endpoint = await webhooks.endpoint(webhook_id)
        principal.require(endpoint["realm"], "admin", "auditor")
        page = await webhooks.deliveries(endpoint, cursor, limit, status)
        return DeliveryPage([delivery_out(row) for row in page.items], page.next_cursor)


class DeliveryController(Controller):
    path = "/v1/webhook-deliveries"
    tags = ["webhooks"]

    @get("/{delivery_id:int}")
    async def read(self, request: Request, principal: Caller, delivery_id: FromPath[int]) -> DeliveryOut:
        """One delivery with every attempt."""
        webhooks = services(request).webhooks
        found = await webhooks.delivery(delivery_id)
        principal.require(found["realm"], "admin", "auditor")
        return delivery_out(found, await webhooks.attempts(found))

    @post("/{delivery_id:int}/replay", status_code=200)
    async def replay(self, request: Request, principal: Caller, delivery_id: FromPath[int],
                     idempotency_key: IdempotencyKey = None) -> DeliveryOut:
        """Send a failed delivery again (same event id and body), with a new 24 h window. A
        retry of the replay finds it pending and changes nothing."""
        webhooks = services(request).webhooks
        found = await webhooks.delivery(delivery_id)
        principal.require(found["realm"], "admin")
        return delivery_out(await webhooks.replay(delivery_id))


ROUTES = [NotificationController, EventTypeController, WebhookController, DeliveryController]
