"""Notify's services: the dispatcher (outbox -> inbox lines and webhook deliveries, one
transaction per batch, so each event fans out exactly once), the sender (signed HTTP
POSTs, retried with backoff for 24 hours; never inside a request or a ledger write),
inboxes, and webhook endpoints."""
from __future__ import annotations

import asyncio
import ipaddress
import secrets
import socket
import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger import db, idempotency, paging
from ledger import errors as ledger_errors
from ledger.paging import Page
from notify import errors, model, repository

UNREAD_COUNT_CAP = 99            # the badge shows "99+" past this
INBOX_CURSOR = paging.Cursor("n1")
DELIVERY_CURSOR = paging.Cursor("d1")
DELIVERY_STATUSES = ("pending", "delivered", "failed")


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


class Dispatcher:
    """Turns committed events into inbox lines and webhook deliveries."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def dispatch(self, limit: int = model.EVENTS_PER_DISPATCH_MAX) -> int:
        """One batch of undispatched events (SKIP LOCKED: dispatchers never wait for each
        other); answers how many were dispatched."""
        return await db.in_transaction(self.engine, lambda conn: self._dispatch(conn, limit))

    async def dispatch_all(self) -> int:
        total = 0
        while (done := await self.dispatch()) > 0:
            total += done
        return total

    async def _dispatch(self, conn: AsyncConnection, limit: int) -> int:
        events = await repository.claim_events(conn, limit)
        if not events:
            return 0
        earned = [(e["realm"], e["subject_id"]) for e in events if e["type"] == "points.earned"]
        credits: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for credit in await repository.earned_credits(conn, earned):
            credits.setdefault((credit["realm"], credit["entry_id"]), []).append(credit)
        endpoints = await repository.active_endpoints(conn, sorted({e["realm"] for e in events}))
        lines, deliveries = [], []
        for event in events:
            payload = _payload(event, credits.get((event["realm"], event["subject_id"]), []))
            lines.extend(_inbox_lines(event, payload, credits.get((event["realm"], event["subject_id"]), [])))
            deliveries.extend(_deliveries(event, payload, endpoints))
        await repository.add_notifications(conn, lines)
        await repository.add_deliveries(conn, deliveries, now_utc() + model.RETRY_WINDOW)
        await repository.mark_dispatched(conn, [(e["realm"], e["id"]) for e in events])
        return len(events)

    async def emit_expiring(self) -> int:
        """voucher.expiring for every issued voucher within EXPIRING_NOTICE of expiry (once each)."""
        return await db.in_transaction(self.engine, lambda conn: repository.emit_expiring(
            conn, model.EXPIRING_NOTICE.total_seconds()))


def _payload(event: dict[str, Any], credits: list[dict[str, Any]]) -> dict[str, Any]:
    if event["type"] != "points.earned":
        return dict(event["payload"])
    return {"entry_id": event["subject_id"],
            "credits": [{"resident_id": c["resident_id"], "asset": c["asset"], "amount": c["amount"]}
                        for c in credits]}


def _inbox_lines(event: dict[str, Any], payload: dict[str, Any],
                 credits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    base = {"realm": event["realm"], "event_id": event["id"], "type": event["type"]}
    if event["type"] == "points.earned":
        return [{**base, "recipient_kind": "resident", "recipient_id": c["resident_id"],
                 "payload": {"entry_id": event["subject_id"], "asset": c["asset"], "amount": c["amount"]}}
                for c in credits]
    recipient = model.EVENT_TYPES.get(event["type"], "staff")
    if recipient == "resident" and event["resident_id"] is not None:
        return [{**base, "recipient_kind": "resident", "recipient_id": event["resident_id"], "payload": payload}]
    if recipient == "merchant" and event["merchant_id"] is not None:
        return [{**base, "recipient_kind": "merchant", "recipient_id": event["merchant_id"], "payload": payload}]
    if recipient == "staff":
        return [{**base, "recipient_kind": "staff", "recipient_id": 0, "payload": payload}]
    return []


def _deliveries(event: dict[str, Any], payload: dict[str, Any],
                endpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
    uid = model.event_uid(event["realm"], event["id"])
    body = model.webhook_body(uid, event["type"], event["realm"], event["created_at"], payload)
    return [{"realm": event["realm"], "endpoint_id": endpoint["id"], "event_id": event["id"], "event_uid": uid,
             "event_type": event["type"], "body": body}
            for endpoint in endpoints
            if endpoint["realm"] == event["realm"] and model.matches(endpoint["event_types"], event["type"])]


class Sender:
    """Sends due webhook deliveries. Claims a batch (a lease, committed), posts them
    concurrently with a timeout each, records every attempt."""

    def __init__(self, engine: AsyncEngine, client: httpx.AsyncClient | None = None,
                 private_allowed: bool = False) -> None:
        """`private_allowed`: may post to this machine and private networks (a setting for
        a county's own receivers, and for tests); otherwise a host that resolves to one is
        refused before any byte is sent, at every attempt (a name can change its address)."""
        self.engine = engine
        self._client = client or httpx.AsyncClient(timeout=model.DELIVERY_TIMEOUT_S, follow_redirects=False)
        self._private_allowed = private_allowed

    async def close(self) -> None:
        await self._client.aclose()

    async def deliver_due(self, limit: int = model.DELIVERIES_PER_ROUND_MAX) -> int:
        claimed = await db.in_transaction(self.engine, lambda conn: repository.claim_deliveries(
            conn, limit, model.DELIVERY_LEASE_S))
        if not claimed:
            return 0
        outcomes = await asyncio.gather(*(self._attempt(delivery) for delivery in claimed))
        await db.in_transaction(self.engine, lambda conn: self._record(conn, claimed, outcomes))
        return sum(outcome.delivered for outcome in outcomes)

    async def _attempt(self, delivery: dict[str, Any]) -> model.Outcome:
        stamp = int(time.time())
        headers = {"Content-Type": "application/json; charset=utf-8",
                   model.SIGNATURE_HEADER: model.signature_header(delivery["secret"], stamp, delivery["body"]),
                   model.EVENT_ID_HEADER: delivery["event_uid"], model.EVENT_TYPE_HEADER: delivery["event_type"],
                   "User-Agent": "PointsBank-Webhooks/1"}
        started = time.perf_counter()
        try:
            if not self._private_allowed and await _resolves_privately(delivery["url"]):
                return model.Outcome(None, "refused: the host is this machine or a private network", 0)
            response = await self._client.post(delivery["url"], content=delivery["body"].encode(), headers=headers)
            code, error = response.status_code, None
        except (httpx.HTTPError, OSError, ValueError) as failure:
            code, error = None, model.short_error(failure)
        return model.Outcome(code, error, int((time.perf_counter() - started) * 1000))

    async def _record(self, conn: AsyncConnection, claimed: list[dict[str, Any]],
                      outcomes: list[model.Outcome]) -> None:
        moment = now_utc()
        for delivery, outcome in zip(claimed, outcomes):
            status, following = model.next_state(outcome, delivery["attempts"], moment, delivery["give_up_at"])
            await repository.record_attempt(conn, delivery, outcome, status, following)


async def _resolves_privately(url: str) -> bool:
    """The URL's host is, or resolves to (any of its addresses), a private host."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if model.private_host(host):
        return True
    try:
        ipaddress.ip_address(host)
        return False                      # a public address literal
    except ValueError:
        pass
    port = parts.port or (443 if parts.scheme == "https" else 80)
    found = await asyncio.get_running_loop().getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return any(model.private_host(str(sockaddr[0])) for *_, sockaddr in found)


class Inbox:
    """A person's notifications: a resident's, a merchant's, or the realm staff's."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def page(self, realm: str, kind: str, recipient: int, cursor: str | None, limit: int | None,
                   unread_only: bool = False) -> Page:
        before, size = INBOX_CURSOR.decode(cursor), paging.check_page_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.inbox_page(
            conn, realm, kind, recipient, before, paging.fetch_size(size), unread_only))
        return paging.page_of(rows, size, INBOX_CURSOR.after("id"))

    async def unread(self, realm: str, kind: str, recipient: int) -> int:
        return await db.read(self.engine, lambda conn: repository.unread_count(
            conn, realm, kind, recipient, UNREAD_COUNT_CAP + 1))

    async def mark_read(self, realm: str, kind: str, recipient: int, notification_id: int | None) -> int:
        async def work(conn: AsyncConnection) -> int:
            if notification_id is not None and not await repository.notification_exists(
                    conn, realm, kind, recipient, notification_id):
                raise errors.UnknownNotification(f"no notification {notification_id} in this inbox")
            ids = None if notification_id is None else [notification_id]
            return await repository.mark_read(conn, realm, kind, recipient, ids)
        return await db.in_transaction(self.engine, work)


class Webhooks:
    """Endpoints an admin registers per realm, their delivery log, and replays."""

    def __init__(self, engine: AsyncEngine, private_allowed: bool = False) -> None:
        """`private_allowed`: endpoints may name this machine or private networks."""
        self.engine = engine
        self._private_allowed = private_allowed

    async def register(self, realm: str, url: str, event_types: list[str], created_by: str,
                       key: str) -> tuple[dict[str, Any], bool]:
        """(endpoint with its secret, replayed). The secret is made here and shown once
        (and to a replay of the same Idempotency-Key)."""
        url, event_types = model.check_url(url, self._private_allowed), model.check_event_filter(event_types)
        request_hash = idempotency.request_hash([realm, url, event_types])

        async def work(conn: AsyncConnection) -> tuple[dict[str, Any], bool]:
            known = await repository.endpoint_by_key(conn, realm, key)
            if known is not None:
                idempotency.check_same_request(known.pop("request_hash"), request_hash, "another webhook")
                return known, True
            if await repository.endpoint_count(conn, realm) >= model.WEBHOOKS_PER_REALM_MAX:
                raise errors.TooManyWebhooks(f"at most {model.WEBHOOKS_PER_REALM_MAX} active webhooks per realm")
            secret = model.SECRET_PREFIX + secrets.token_urlsafe(model.SECRET_BYTES)
            return await repository.insert_endpoint(conn, realm, url, event_types, secret, key, request_hash,
                                                    created_by), False
        return await db.in_transaction(self.engine, work)

    async def list(self, realm: str) -> list[dict[str, Any]]:
        return await db.read(self.engine, lambda conn: repository.endpoints(conn, realm))

    async def endpoint(self, endpoint_id: int) -> dict[str, Any]:
        found = await db.read(self.engine, lambda conn: repository.endpoint(conn, endpoint_id))
        if found is None:
            raise errors.UnknownWebhook(f"no webhook {endpoint_id}")
        return found

    async def set_active(self, endpoint: dict[str, Any], active: bool) -> dict[str, Any]:
        await db.in_transaction(self.engine, lambda conn: repository.set_endpoint_active(
            conn, endpoint["realm"], endpoint["id"], active))
        return {**endpoint, "active": active}

    async def deliveries(self, endpoint: dict[str, Any], cursor: str | None, limit: int | None,
                         status: str | None) -> Page:
        if status is not None and status not in DELIVERY_STATUSES:
            raise ledger_errors.InvalidInput(f"status is one of {', '.join(DELIVERY_STATUSES)}")
        before, size = DELIVERY_CURSOR.decode(cursor), paging.check_page_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.deliveries_page(
            conn, endpoint["realm"], endpoint["id"], before, paging.fetch_size(size), status))
        return paging.page_of(rows, size, DELIVERY_CURSOR.after("id"))

    async def delivery(self, delivery_id: int) -> dict[str, Any]:
        found = await db.read(self.engine, lambda conn: repository.delivery(conn, delivery_id))
        if found is None:
            raise errors.UnknownDelivery(f"no webhook delivery {delivery_id}")
        return found

    async def attempts(self, delivery: dict[str, Any]) -> list[dict[str, Any]]:
        return await db.read(self.engine, lambda conn: repository.attempts(conn, delivery["realm"], delivery["id"]))

    async def replay(self, delivery_id: int) -> dict[str, Any]:
        """A failed delivery goes back to pending, due now, with a fresh 24 h window. The
        same event id is sent, so a receiver that de-duplicates sees it once."""
        async def work(conn: AsyncConnection) -> dict[str, Any]:
            found = await repository.delivery(conn, delivery_id, lock=True)
            if found is None:
                raise errors.UnknownDelivery(f"no webhook delivery {delivery_id}")
            if found["status"] == "pending":
                return found
            if found["status"] != "failed":
                raise errors.DeliveryNotReplayable(f"delivery {delivery_id} was delivered")
            await repository.replay(conn, found["realm"], delivery_id, now_utc() + model.RETRY_WINDOW)
            return await repository.delivery(conn, delivery_id)  # type: ignore[return-value]
        return await db.in_transaction(self.engine, work)
