"""Notify's SQL: the outbox (claiming undispatched events, fanning them out), inboxes,
webhook endpoints, deliveries and their attempts. `emit` is the one Python call that
writes an event in the caller's transaction."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from notify import model


CLAIM_WINDOW_FACTOR = 4     # a claim looks at ids oldest .. oldest + 4 x its batch size


def _one(row: Any) -> dict[str, Any] | None:
    return dict(row._mapping) if row is not None else None


def _all(result: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in result]


async def emit(conn: AsyncConnection, realm: str, event_type: str, *, subject_id: int | None = None,
               resident_id: int | None = None, merchant_id: int | None = None,
               payload: dict[str, Any] | None = None, dedup_key: str | None = None) -> int | None:
    """Write one event in `conn`'s transaction (it commits or rolls back with the change
    it reports): `SELECT notify_emit(...)`. Answers its id, or None when `dedup_key` was
    emitted before. The lead wires reservations, service requests and ratings with this
    (or with the SQL call itself inside their triggers)."""
    return (await conn.execute(text(
        "SELECT notify_emit(:realm, :type, :subject, :resident, :merchant, CAST(:payload AS jsonb), :dedup)"),
        {"realm": realm, "type": event_type, "subject": subject_id, "resident": resident_id,
         "merchant": merchant_id, "payload": json.dumps(payload or {}, default=str),
         "dedup": dedup_key})).scalar_one()


# dispatch: events -> inbox lines and webhook deliveries ---------------------------------

async def claim_events(conn: AsyncConnection, limit: int) -> list[dict[str, Any]]:
    """Undispatched events, oldest first, locked; those another dispatcher holds are
    skipped. The oldest pending id comes first (the partial index's first entry), then a
    bounded id window from it: the planner sees a range it can only probe, never a scan,
    however many events are pending."""
    oldest = (await conn.execute(text("SELECT min(id) FROM events WHERE dispatched_at IS NULL"))).scalar()
    if oldest is None:
        return []
    return _all(await conn.execute(text(
        "SELECT realm, id, type, subject_id, resident_id, merchant_id, payload, created_at FROM events "
        "WHERE dispatched_at IS NULL AND id BETWEEN :oldest AND :last ORDER BY id LIMIT :limit "
        "FOR UPDATE SKIP LOCKED"), {"oldest": oldest, "last": oldest + limit * CLAIM_WINDOW_FACTOR,
                                    "limit": limit}))


async def earned_credits(conn: AsyncConnection, keys: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """For earn entries (realm, id): each resident credited, its asset and points (postings
    never change, so this reads the same whenever it runs). Probes by key."""
    if not keys:
        return []
    return _all(await conn.execute(text(
        "SELECT k.realm, k.entry_id, a.resident_id, p.asset, p.amount FROM "
        "unnest(CAST(:realms AS text[]), CAST(:ids AS bigint[])) AS k(realm, entry_id) "
        "CROSS JOIN LATERAL (SELECT p.account_id, p.asset, p.amount FROM postings p "
        "  WHERE p.realm = k.realm AND p.entry_id = k.entry_id AND p.amount > 0) p "
        "CROSS JOIN LATERAL (SELECT a.resident_id FROM accounts a WHERE a.realm = k.realm "
        "  AND a.id = p.account_id AND a.kind = 'resident' LIMIT 1) a ORDER BY k.entry_id, a.resident_id"),
        {"realms": [realm for realm, _ in keys], "ids": [entry for _, entry in keys]}))


async def active_endpoints(conn: AsyncConnection, realms: list[str]) -> list[dict[str, Any]]:
    return _all(await conn.execute(text(
        "SELECT realm, id, event_types FROM webhook_endpoints WHERE realm = ANY(:realms) AND active"),
        {"realms": realms}))


async def add_notifications(conn: AsyncConnection, lines: list[dict[str, Any]]) -> None:
    """Every line in one statement (a JSON array of rows, not a statement per line)."""
    if lines:
        await conn.execute(text(
            "INSERT INTO notifications (realm, recipient_kind, recipient_id, event_id, type, payload) "
            "SELECT realm, recipient_kind, recipient_id, event_id, type, payload "
            "FROM jsonb_to_recordset(CAST(:lines AS jsonb)) AS line (realm text, recipient_kind text, "
            "recipient_id bigint, event_id bigint, type text, payload jsonb) "
            "ON CONFLICT ON CONSTRAINT notifications_once DO NOTHING"),
            {"lines": json.dumps(lines, default=str)})


async def add_deliveries(conn: AsyncConnection, deliveries: list[dict[str, Any]], give_up_at: datetime) -> None:
    """Every delivery in one statement."""
    if deliveries:
        await conn.execute(text(
            "INSERT INTO webhook_deliveries (realm, endpoint_id, event_id, event_uid, event_type, body, give_up_at) "
            "SELECT realm, endpoint_id, event_id, event_uid, event_type, body, :give_up_at "
            "FROM jsonb_to_recordset(CAST(:deliveries AS jsonb)) AS delivery (realm text, endpoint_id bigint, "
            "event_id bigint, event_uid text, event_type text, body text) "
            "ON CONFLICT ON CONSTRAINT webhook_deliveries_once DO NOTHING"),
            {"deliveries": json.dumps(deliveries), "give_up_at": give_up_at})


async def mark_dispatched(conn: AsyncConnection, keys: list[tuple[str, int]]) -> None:
    """Per realm, a probe of the primary key (realm, id) for each event."""
    by_realm: dict[str, list[int]] = {}
    for realm, event in keys:
        by_realm.setdefault(realm, []).append(event)
    for realm, ids in sorted(by_realm.items()):
        await conn.execute(text(
            "UPDATE events SET dispatched_at = now() WHERE realm = :realm AND id = ANY(CAST(:ids AS bigint[])) "
            "AND dispatched_at IS NULL"), {"realm": realm, "ids": ids})


async def emit_expiring(conn: AsyncConnection, horizon_s: float) -> int:
    return (await conn.execute(text("SELECT notify_vouchers_expiring(make_interval(secs => :s))"),
                               {"s": horizon_s})).scalar_one()


# inboxes ---------------------------------------------------------------------------------

async def inbox_page(conn: AsyncConnection, realm: str, kind: str, recipient: int, before: int | None,
                     limit: int, unread_only: bool) -> list[dict[str, Any]]:
    return _all(await conn.execute(text(
        "SELECT id, event_id, type, payload, created_at, read_at FROM notifications "
        "WHERE realm = :realm AND recipient_kind = :kind AND recipient_id = :recipient "
        "AND (CAST(:before AS bigint) IS NULL OR id < :before) "
        "AND (NOT :unread_only OR read_at IS NULL) ORDER BY id DESC LIMIT :limit"),
        {"realm": realm, "kind": kind, "recipient": recipient, "before": before, "limit": limit,
         "unread_only": unread_only}))


async def unread_count(conn: AsyncConnection, realm: str, kind: str, recipient: int, cap: int) -> int:
    return (await conn.execute(text(
        "SELECT count(*) FROM (SELECT 1 FROM notifications WHERE realm = :realm AND recipient_kind = :kind "
        "AND recipient_id = :recipient AND read_at IS NULL LIMIT :cap) n"),
        {"realm": realm, "kind": kind, "recipient": recipient, "cap": cap})).scalar_one()


async def mark_read(conn: AsyncConnection, realm: str, kind: str, recipient: int, ids: list[int] | None) -> int:
    """Mark the recipient's lines read (all unread ones when `ids` is None); answers how many."""
    result = await conn.execute(text(
        "UPDATE notifications SET read_at = now() WHERE realm = :realm AND recipient_kind = :kind "
        "AND recipient_id = :recipient AND read_at IS NULL "
        "AND (CAST(:ids AS bigint[]) IS NULL OR id = ANY(CAST(:ids AS bigint[])))"),
        {"realm": realm, "kind": kind, "recipient": recipient, "ids": ids})
    return result.rowcount


async def notification_exists(conn: AsyncConnection, realm: str, kind: str, recipient: int, ident: int) -> bool:
    return (await conn.execute(text(
        "SELECT EXISTS (SELECT 1 FROM notifications WHERE realm = :realm AND id = :id "
        "AND recipient_kind = :kind AND recipient_id = :recipient)"),
        {"realm": realm, "id": ident, "kind": kind, "recipient": recipient})).scalar_one()


# webhook endpoints -----------------------------------------------------------------------

ENDPOINT_COLUMNS = "realm, id, url, event_types, active, created_by, created_at"


async def endpoint_by_key(conn: AsyncConnection, realm: str, key: str) -> dict[str, Any] | None:
    return _one((await conn.execute(text(
        f"SELECT {ENDPOINT_COLUMNS}, secret, request_hash FROM webhook_endpoints "
        "WHERE realm = :realm AND idempotency_key = :key"), {"realm": realm, "key": key})).first())


async def endpoint_count(conn: AsyncConnection, realm: str) -> int:
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('webhooks:' || :realm, 0))"),
                       {"realm": realm})
    return (await conn.execute(text("SELECT count(*) FROM webhook_endpoints WHERE realm = :realm AND active"),
                               {"realm": realm})).scalar_one()


async def insert_endpoint(conn: AsyncConnection, realm: str, url: str, event_types: list[str], secret: str,
                          key: str, request_hash: bytes, created_by: str) -> dict[str, Any]:
    return _one((await conn.execute(text(
        "INSERT INTO webhook_endpoints (realm, url, event_types, secret, idempotency_key, request_hash, created_by) "
        "VALUES (:realm, :url, :types, :secret, :key, :hash, :by) "
        f"RETURNING {ENDPOINT_COLUMNS}, secret"),
        {"realm": realm, "url": url, "types": event_types, "secret": secret, "key": key, "hash": request_hash,
         "by": created_by})).first())  # type: ignore[return-value]


async def endpoints(conn: AsyncConnection, realm: str) -> list[dict[str, Any]]:
    return _all(await conn.execute(text(
        f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE realm = :realm ORDER BY id"), {"realm": realm}))


async def endpoint(conn: AsyncConnection, endpoint_id: int) -> dict[str, Any] | None:
    return _one((await conn.execute(text(
        f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = :id"), {"id": endpoint_id})).first())


async def set_endpoint_active(conn: AsyncConnection, realm: str, endpoint_id: int, active: bool) -> None:
    await conn.execute(text("UPDATE webhook_endpoints SET active = :active WHERE realm = :realm AND id = :id"),
                       {"realm": realm, "id": endpoint_id, "active": active})


# deliveries ------------------------------------------------------------------------------

DELIVERY_COLUMNS = ("d.realm, d.id, d.endpoint_id, d.event_id, d.event_uid, d.event_type, d.status, d.attempts, "
                    "d.next_attempt_at, d.give_up_at, d.last_status, d.last_error, d.delivered_at, d.created_at")


async def claim_deliveries(conn: AsyncConnection, limit: int, lease_s: float) -> list[dict[str, Any]]:
    """Due deliveries of active endpoints, leased: their next attempt moves `lease_s` ahead
    and their attempt count up, then the transaction commits before any HTTP is sent. A
    sender that dies mid-attempt leaves them to be retried when the lease ends."""
    return _all(await conn.execute(text(
        "WITH due AS (SELECT d.realm, d.id FROM webhook_deliveries d "
        "  JOIN webhook_endpoints e ON e.realm = d.realm AND e.id = d.endpoint_id AND e.active "
        "  WHERE d.status = 'pending' AND d.next_attempt_at <= now() "
        "  ORDER BY d.next_attempt_at LIMIT :limit FOR UPDATE OF d SKIP LOCKED) "
        "UPDATE webhook_deliveries d SET attempts = d.attempts + 1, "
        "  next_attempt_at = now() + make_interval(secs => :lease) "
        "FROM due, webhook_endpoints e WHERE d.realm = due.realm AND d.id = due.id "
        "  AND e.realm = d.realm AND e.id = d.endpoint_id "
        f"RETURNING {DELIVERY_COLUMNS}, d.body, e.url, e.secret"),
        {"limit": limit, "lease": lease_s}))


async def record_attempt(conn: AsyncConnection, delivery: dict[str, Any], outcome: model.Outcome, status: str,
                         next_attempt_at: datetime) -> None:
    """The attempt's line in the log, and the delivery's new state (unless a replay or
    another sender moved it on meanwhile: then only the log line)."""
    await conn.execute(text(
        "INSERT INTO webhook_attempts (realm, delivery_id, attempt, status_code, error, duration_ms) "
        "VALUES (:realm, :id, :attempt, :code, :error, :ms) ON CONFLICT DO NOTHING"),
        {"realm": delivery["realm"], "id": delivery["id"], "attempt": delivery["attempts"],
         "code": outcome.status_code, "error": outcome.error, "ms": outcome.duration_ms})
    await conn.execute(text(
        "UPDATE webhook_deliveries SET status = :status, next_attempt_at = :next, last_status = :code, "
        "last_error = :error, delivered_at = CASE WHEN :status = 'delivered' THEN now() END "
        "WHERE realm = :realm AND id = :id AND attempts = :attempt AND status = 'pending'"),
        {"realm": delivery["realm"], "id": delivery["id"], "attempt": delivery["attempts"], "status": status,
         "next": next_attempt_at, "code": outcome.status_code, "error": outcome.error})


async def deliveries_page(conn: AsyncConnection, realm: str, endpoint_id: int, before: int | None,
                          limit: int, status: str | None) -> list[dict[str, Any]]:
    return _all(await conn.execute(text(
        f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.realm = :realm AND d.endpoint_id = :endpoint "
        "AND (CAST(:before AS bigint) IS NULL OR d.id < :before) "
        "AND (CAST(:status AS text) IS NULL OR d.status = :status) ORDER BY d.id DESC LIMIT :limit"),
        {"realm": realm, "endpoint": endpoint_id, "before": before, "limit": limit, "status": status}))


async def delivery(conn: AsyncConnection, delivery_id: int, lock: bool = False) -> dict[str, Any] | None:
    return _one((await conn.execute(text(
        f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.id = :id"
        + (" FOR UPDATE" if lock else "")), {"id": delivery_id})).first())


async def attempts(conn: AsyncConnection, realm: str, delivery_id: int) -> list[dict[str, Any]]:
    return _all(await conn.execute(text(
        "SELECT attempt, attempted_at, status_code, error, duration_ms FROM webhook_attempts "
        "WHERE realm = :realm AND delivery_id = :id ORDER BY attempt"), {"realm": realm, "id": delivery_id}))


async def replay(conn: AsyncConnection, realm: str, delivery_id: int, give_up_at: datetime) -> None:
    await conn.execute(text(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), give_up_at = :give_up "
        "WHERE realm = :realm AND id = :id"), {"realm": realm, "id": delivery_id, "give_up": give_up_at})
