"""Events, inboxes and webhooks, pure: the event catalogue, who reads an event, the text
an inbox shows, the webhook body, its signature (HMAC-SHA256 over "<t>.<body>", sent as
`PointsBank-Signature: t=<unix seconds>,v1=<hex>`, as Stripe does) and the retry
schedule (exponential backoff for 24 hours). No I/O."""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from ledger.require import require
from notify import errors

SIGNATURE_HEADER = "PointsBank-Signature"
EVENT_ID_HEADER = "PointsBank-Event-Id"
EVENT_TYPE_HEADER = "PointsBank-Event-Type"
SIGNATURE_SCHEME = "v1"
SIGNATURE_TOLERANCE_S = 300            # a receiver refuses a signature older than this
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32

RETRY_WINDOW = timedelta(hours=24)     # a delivery is retried for this long, then 'failed'
RETRY_FIRST_S = 5.0                    # first retry after 5 s, then doubling ...
RETRY_DELAY_MAX_S = 3600.0             # ... up to an hour between attempts
DELIVERY_TIMEOUT_S = 5.0               # one attempt's HTTP timeout (connect + read)
DELIVERY_LEASE_S = 60.0                # a claimed delivery is retried after this if its sender died
DELIVERIES_PER_ROUND_MAX = 50
EVENTS_PER_DISPATCH_MAX = 500
ERROR_TEXT_MAX = 500

WEBHOOKS_PER_REALM_MAX = 20
WEBHOOK_URL_LENGTH_MAX = 2000
EVENT_FILTER_SIZE_MAX = 30
EXPIRING_NOTICE = timedelta(days=3)    # voucher.expiring is emitted this long before expiry

# Every event type and who reads it in an inbox (mirrors the `event_types` table, which
# the database checks notify_emit against; tests/unit keep the two equal).
EVENT_TYPES: dict[str, str] = {
    "points.earned": "resident", "voucher.issued": "resident", "voucher.redeemed": "resident",
    "voucher.expired": "resident", "voucher.expiring": "resident",
    "settlement.issued": "merchant", "settlement.paid": "merchant",
    "budget.low": "staff", "recognition.awarded": "resident", "star_level.reached": "resident",
    "reservation.booked": "resident", "reservation.cancelled": "resident",
    "reservation.attended": "resident", "reservation.no_show": "resident",
    "service_request.opened": "staff", "service_request.dispatched": "resident",
    "service_request.accepted": "resident", "service_request.done": "resident",
    "service_request.confirmed": "resident", "service_request.cancelled": "resident",
    "rating.low": "staff",
}

# What an inbox line says (Chinese first; the English for the switch). `{...}` fields
# come from the event's payload.
TITLES: dict[str, tuple[str, str]] = {
    "points.earned": ("获得积分 {amount} 分", "You earned {amount} points"),
    "voucher.issued": ("兑换券已生成：{amount} 分", "Voucher issued: {amount} points"),
    "voucher.redeemed": ("兑换券已使用：{captured_amount} 分", "Voucher redeemed: {captured_amount} points"),
    "voucher.expired": ("兑换券已过期，{amount} 分已退回", "Voucher expired; {amount} points returned"),
    "voucher.expiring": ("兑换券将于三天内过期（{amount} 分）", "A voucher of {amount} points expires within 3 days"),
    "settlement.issued": ("结算单已生成：{points} 分", "Settlement issued: {points} points"),
    "settlement.paid": ("结算款已支付：{points} 分", "Settlement paid: {points} points"),
    "budget.low": ("积分预算余额不足 {months} 个月", "Budget lasts under {months} months"),
    "recognition.awarded": ("恭喜获评{title}", "You were named {title}"),
    "star_level.reached": ("志愿服务达到{level}星级", "You reached volunteer star level {level}"),
    "reservation.booked": ("预约成功（预约 {reservation_id}）", "Reservation {reservation_id} booked"),
    "reservation.cancelled": ("预约已取消（预约 {reservation_id}）", "Reservation {reservation_id} cancelled"),
    "reservation.attended": ("预约已到场（预约 {reservation_id}）", "Reservation {reservation_id}: attended"),
    "reservation.no_show": ("预约未到场（预约 {reservation_id}）", "Reservation {reservation_id}: no-show"),
    "service_request.dispatched": ("新的服务任务 {request_id}：{category}", "New task {request_id}: {category}"),
    "service_request.accepted": ("志愿者已接单（需求 {request_id}）", "A volunteer accepted request {request_id}"),
    "service_request.done": ("服务已完成，请确认（需求 {request_id}）", "Request {request_id} done: please confirm"),
    "service_request.confirmed": ("服务已确认（需求 {request_id}）", "Request {request_id} confirmed"),
    "service_request.cancelled": ("服务需求已取消（需求 {request_id}）", "Request {request_id} cancelled"),
    "rating.low": ("收到低分评价：{rating} 分", "A low rating: {rating}"),
}
GENERIC_TITLE = ("新消息：{type}", "New: {type}")


def recipient_of(event_type: str) -> str:
    if event_type not in EVENT_TYPES:
        raise errors.UnknownEventType(f"no event type {event_type!r}")
    return EVENT_TYPES[event_type]


def event_uid(realm: str, event_id: int) -> str:
    """The event's unique id across realms, the same on every delivery (for de-duplication)."""
    return f"evt_{realm}_{event_id}"


def title(event_type: str, payload: dict[str, Any], language: str = "zh") -> str:
    chinese, english = TITLES.get(event_type, GENERIC_TITLE)
    template = english if language == "en" else chinese
    try:
        return template.format(type=event_type, **payload)
    except (KeyError, IndexError, ValueError):
        return (GENERIC_TITLE[1] if language == "en" else GENERIC_TITLE[0]).format(type=event_type)


def webhook_body(uid: str, event_type: str, realm: str, created_at: datetime, payload: dict[str, Any]) -> str:
    """The JSON a receiver gets: fixed once per delivery (the same bytes on every attempt)."""
    return json.dumps({"id": uid, "type": event_type, "realm": realm, "created_at": created_at.isoformat(),
                       "data": payload}, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def signature(secret: str, timestamp: int, body: str) -> str:
    signed = f"{timestamp}.{body}".encode()
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: str) -> str:
    return f"t={timestamp},{SIGNATURE_SCHEME}={signature(secret, timestamp, body)}"


def verify_signature(secret: str, header: str, body: str, now: int,
                     tolerance_s: int = SIGNATURE_TOLERANCE_S) -> bool:
    """What a receiver does: the header's v1 matches and its time is recent."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(parts.get(SIGNATURE_SCHEME, ""), signature(secret, timestamp, body))


def retry_delay_s(attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones: 5, 10, 20 ... 3600."""
    require(attempts >= 1, "a retry follows at least one attempt")
    return min(RETRY_FIRST_S * 2 ** min(attempts - 1, 30), RETRY_DELAY_MAX_S)


@dataclass(frozen=True)
class Outcome:
    """One attempt's result: delivered on any 2xx."""
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def next_state(outcome: Outcome, attempts: int, now: datetime, give_up_at: datetime) -> tuple[str, datetime]:
    """(status, next attempt) after an attempt: delivered; or pending with backoff; or
    failed once the next attempt would fall after `give_up_at`."""
    if outcome.delivered:
        return "delivered", now
    following = now + timedelta(seconds=retry_delay_s(attempts))
    if following > give_up_at:
        return "failed", now
    return "pending", following


def check_url(url: str, private_allowed: bool = False) -> str:
    """An http(s) URL naming a host; unless `private_allowed` (a county's own network, by
    setting), not this machine or a private network: the bank must not be made to post
    into the network it runs in."""
    if not isinstance(url, str) or len(url) > WEBHOOK_URL_LENGTH_MAX or any(c.isspace() for c in url):
        raise errors.InvalidWebhookUrl("a webhook URL is an http(s) URL of at most 2000 characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise errors.InvalidWebhookUrl("a webhook URL starts with http:// or https:// and names a host")
    if not private_allowed and private_host(parts.hostname):
        raise errors.InvalidWebhookUrl("a webhook URL names a public host, not this machine or a private network")
    return url


def private_host(host: str) -> bool:
    """`localhost` (and its subdomains), or an IP address that is not globally routable:
    loopback, private, link-local (cloud metadata), shared, reserved, multicast,
    unspecified; an IPv4 address inside IPv6 counts as itself."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False     # a name: what it resolves to is checked before each delivery
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def check_event_filter(types: list[str]) -> list[str]:
    """An endpoint's filter: known types (empty: every type), at most EVENT_FILTER_SIZE_MAX."""
    if len(types) > EVENT_FILTER_SIZE_MAX:
        raise errors.InvalidEventFilter(f"at most {EVENT_FILTER_SIZE_MAX} event types")
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise errors.InvalidEventFilter(f"unknown event types: {', '.join(sorted(unknown))[:200]}")
    return sorted(set(types))


def matches(event_filter: list[str], event_type: str) -> bool:
    return not event_filter or event_type in event_filter


def short_error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:ERROR_TEXT_MAX]
