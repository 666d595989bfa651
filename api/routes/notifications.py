"""Notifications (issue 16 item 3): each person's inbox (a resident's, a merchant's, the
realm staff's) with a badge count and mark-read; webhook endpoints an admin registers per
realm (the secret shown once), their delivery log and the replay of a failed delivery;
the event catalogue."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.auth import roles
from api.errors import problems
from api.routes.common import (PAGING, Caller, IdempotencyKey, ItemsPage, Service, replayable,
                               required_idempotency_key, shaped)
from ledger import errors
from notify import errors as notify_errors
from notify import model
from notify.service import UNREAD_COUNT_CAP, Inbox, Webhooks

STAFF = ("admin", "organizer", "auditor")
INBOX_ERRORS = (errors.InvalidInput,)   # an all-realms admin names no realm


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
    found = shaped(DeliveryOut, row)
    if log is not None:
        found.log = [shaped(AttemptOut, attempt) for attempt in log]
    return found


class NotificationController(Controller):
    path = "/v1/notifications"
    tags = ["notifications"]

    @get("/", responses=problems(PAGING, INBOX_ERRORS))
    async def inbox(self, inbox: Service[Inbox], principal: Caller, realm: FromQuery[str | None] = None,
                    cursor: FromQuery[str | None] = None, limit: FromQuery[int | None] = None,
                    unread_only: FromQuery[bool] = False) -> NotificationPage:
        """The caller's notifications, newest first, with the unread count."""
        place, kind, recipient = inbox_owner(principal, realm)
        page = await inbox.page(place, kind, recipient, cursor, limit, unread_only)
        return NotificationPage([notification_out(row) for row in page.items], page.next_cursor,
                                await inbox.unread(place, kind, recipient))

    @get("/unread", responses=problems(INBOX_ERRORS))
    async def unread(self, inbox: Service[Inbox], principal: Caller,
                     realm: FromQuery[str | None] = None) -> UnreadOut:
        """The badge: how many unread (capped)."""
        place, kind, recipient = inbox_owner(principal, realm)
        count = await inbox.unread(place, kind, recipient)
        return UnreadOut(min(count, UNREAD_COUNT_CAP), count > UNREAD_COUNT_CAP)

    @post("/{notification_id:int}/read", status_code=200,
          responses=problems(INBOX_ERRORS, notify_errors.UnknownNotification))
    async def mark_read(self, inbox: Service[Inbox], principal: Caller, notification_id: FromPath[int],
                        realm: FromQuery[str | None] = None) -> MarkedOut:
        """Mark one notification read (a retry marks nothing more: safe without a key)."""
        place, kind, recipient = inbox_owner(principal, realm)
        return MarkedOut(await inbox.mark_read(place, kind, recipient, notification_id))

    @post("/read", status_code=200, responses=problems(INBOX_ERRORS))
    async def mark_all_read(self, inbox: Service[Inbox], principal: Caller,
                            realm: FromQuery[str | None] = None) -> MarkedOut:
        """Mark every notification of the caller's inbox read (a retry marks nothing more)."""
        place, kind, recipient = inbox_owner(principal, realm)
        return MarkedOut(await inbox.mark_read(place, kind, recipient, None))


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

    @post("/", status_code=201, guards=[roles("admin")],
          responses=problems(notify_errors.InvalidWebhookUrl, notify_errors.InvalidEventFilter,
                             notify_errors.UnknownEventType, notify_errors.TooManyWebhooks))
    async def register(self, webhooks: Service[Webhooks], principal: Caller, data: JSONBody[WebhookIn],
                       idempotency_key: IdempotencyKey = None) -> Response[WebhookCreated]:
        """Register an endpoint for the realm's events (filtered by type). The answer shows
        the signing secret once (and again only to a retry with the same key)."""
        principal.require(data.realm, "admin")
        key = required_idempotency_key(idempotency_key)
        made, replayed = await webhooks.register(data.realm, data.url, data.event_types, principal.actor, key)
        return replayable(shaped(WebhookCreated, made), replayed)

    @get("/", guards=[roles("admin", "auditor")])
    async def list_webhooks(self, webhooks: Service[Webhooks], principal: Caller,
                            realm: FromQuery[str]) -> list[WebhookOut]:
        principal.require(realm, "admin", "auditor")
        return [shaped(WebhookOut, row) for row in await webhooks.list(realm)]

    @post("/{webhook_id:int}/active", status_code=200, guards=[roles("admin")],
          responses=problems(notify_errors.UnknownWebhook))
    async def set_active(self, webhooks: Service[Webhooks], principal: Caller, webhook_id: FromPath[int],
                         data: JSONBody[WebhookActiveIn]) -> WebhookOut:
        """Pause or resume an endpoint (setting the same state again changes nothing: safe
        without a key)."""
        endpoint = await webhooks.endpoint(webhook_id)
        principal.require(endpoint["realm"], "admin")
        return shaped(WebhookOut, await webhooks.set_active(endpoint, data.active))

    @get("/{webhook_id:int}/deliveries", guards=[roles("admin", "auditor")],
         responses=problems(PAGING, notify_errors.UnknownWebhook))
    async def deliveries(self, webhooks: Service[Webhooks], principal: Caller, webhook_id: FromPath[int],
                         status: FromQuery[str | None] = None, cursor: FromQuery[str | None] = None,
                         limit: FromQuery[int | None] = None) -> ItemsPage[DeliveryOut]:
        """The delivery log of one endpoint, newest first."""
        endpoint = await webhooks.endpoint(webhook_id)
        principal.require(endpoint["realm"], "admin", "auditor")
        page = await webhooks.deliveries(endpoint, cursor, limit, status)
        return ItemsPage([delivery_out(row) for row in page.items], page.next_cursor)


class DeliveryController(Controller):
    path = "/v1/webhook-deliveries"
    tags = ["webhooks"]

    @get("/{delivery_id:int}", guards=[roles("admin", "auditor")],
         responses=problems(notify_errors.UnknownDelivery))
    async def read(self, webhooks: Service[Webhooks], principal: Caller, delivery_id: FromPath[int]) -> DeliveryOut:
        """One delivery with every attempt."""
        found = await webhooks.delivery(delivery_id)
        principal.require(found["realm"], "admin", "auditor")
        return delivery_out(found, await webhooks.attempts(found))

    @post("/{delivery_id:int}/replay", status_code=200, guards=[roles("admin")],
          responses=problems(notify_errors.UnknownDelivery, notify_errors.DeliveryNotReplayable))
    async def replay(self, webhooks: Service[Webhooks], principal: Caller, delivery_id: FromPath[int]) -> DeliveryOut:
        """Send a failed delivery again (same event id and body), with a new 24 h window. A
        retry of the replay finds it pending and changes nothing (safe without a key)."""
        found = await webhooks.delivery(delivery_id)
        principal.require(found["realm"], "admin")
        return delivery_out(await webhooks.replay(delivery_id))


ROUTES = [NotificationController, EventTypeController, WebhookController, DeliveryController]
