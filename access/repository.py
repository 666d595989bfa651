"""Access's SQL: tokens, enrolments, failed claims, and whether a holder exists."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from access import model
from ledger.reads import Reads


def _one(row: Any) -> dict[str, Any] | None:
    return dict(row._mapping) if row is not None else None


def _all(result: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in result]


# holders ---------------------------------------------------------------------------

async def holder_names(conn: AsyncConnection, holder: model.Holder) -> dict[str, Any] | None:
    """The holder's names (person, station) if everything the holder names exists in its
    realm; None if anything is missing."""
    row = (await conn.execute(text(
        "SELECT r.display_name AS resident_name, r.code AS resident_code, "
        "coalesce(r.station_id, CAST(:station AS bigint)) AS station_id, "
        "s.name AS station_name, m.name AS merchant_name, "
        "(CAST(:resident AS bigint) IS NULL OR r.id IS NOT NULL) AS resident_ok, "
        "(CAST(:merchant AS bigint) IS NULL OR m.id IS NOT NULL) AS merchant_ok, "
        "(CAST(:station AS bigint) IS NULL OR s.id IS NOT NULL) AS station_ok "
        "FROM (SELECT 1) one "
        "LEFT JOIN residents r ON r.realm = :realm AND r.id = :resident "
        "LEFT JOIN stations s ON s.realm = :realm AND s.id = coalesce(r.station_id, CAST(:station AS bigint)) "
        "LEFT JOIN merchants m ON m.realm = :realm AND m.id = :merchant"),
        {"realm": holder.realm, "resident": holder.resident_id, "merchant": holder.merchant_id,
         "station": holder.station_id})).one()
    found = dict(row._mapping)
    if not (found.pop("resident_ok") and found.pop("merchant_ok") and found.pop("station_ok")):
        return None
    if holder.realm is not None and not (await conn.execute(text(
            "SELECT 1 FROM realms WHERE code = :realm"), {"realm": holder.realm})).first():
        return None
    return found


# tokens ----------------------------------------------------------------------------

_TOKEN_COLUMNS = ("id, kind, role, realm, station_id, merchant_id, resident_id, label, created_at, "
                  "expires_at, last_used_at, revoked_at, revoked_by")


async def insert_token(conn: AsyncConnection, token_hash: bytes, holder: model.Holder, kind: str,
                       label: str | None, expires_at: datetime | None) -> dict[str, Any]:
    row = (await conn.execute(text(
        "INSERT INTO api_tokens (token_hash, kind, role, realm, station_id, merchant_id, resident_id, "
        "label, expires_at) VALUES (:hash, :kind, :role, :realm, :station, :merchant, :resident, :label, "
        f":expires) RETURNING {_TOKEN_COLUMNS}"),
        {"hash": token_hash, "kind": kind, "role": holder.role, "realm": holder.realm,
         "station": holder.station_id, "merchant": holder.merchant_id, "resident": holder.resident_id,
         "label": label, "expires": expires_at})).one()
    return dict(row._mapping)


async def token_by_hash(reads: Reads, token_hash: bytes) -> dict[str, Any] | None:
    """Every request's token (when not cached), through `reads`."""
    return await reads.row(f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = %s", (token_hash,))


async def find_token(conn: AsyncConnection, token_id: int) -> dict[str, Any] | None:
    return _one((await conn.execute(text(
        f"SELECT t.*, r.station_id AS resident_station_id FROM (SELECT {_TOKEN_COLUMNS} FROM api_tokens "
        "WHERE id = :id) t LEFT JOIN residents r ON r.realm = t.realm AND r.id = t.resident_id"),
        {"id": token_id})).first())


async def renew_token(conn: AsyncConnection, token_id: int, now: datetime, expires_at: datetime) -> None:
    await conn.execute(text(
        "UPDATE api_tokens SET last_used_at = :now, expires_at = :expires "
        "WHERE id = :id AND revoked_at IS NULL"), {"id": token_id, "now": now, "expires": expires_at})


async def revoke_token(conn: AsyncConnection, token_id: int, now: datetime, by: str) -> dict[str, Any] | None:
    """Revoke once: a second revocation leaves the first time and author."""
    return _one((await conn.execute(text(
        "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, :now), "
        "revoked_by = coalesce(revoked_by, :by) WHERE id = :id "
        f"RETURNING {_TOKEN_COLUMNS}"), {"id": token_id, "now": now, "by": by})).first())


async def tokens_page(conn: AsyncConnection, scope: dict[str, Any], before_id: int | None,
                      limit: int) -> list[dict[str, Any]]:
    """Newest first, within the scope: a realm, a resident, a merchant, a station's
    residents (and `self`, the caller's own token), or everything."""
    return _all(await conn.execute(text(
        f"SELECT {_TOKEN_COLUMNS} FROM api_tokens t "
        "WHERE (CAST(:before AS bigint) IS NULL OR t.id < :before) "
        "AND (CAST(:realm AS text) IS NULL OR t.realm = :realm) "
        "AND (CAST(:resident AS bigint) IS NULL OR t.resident_id = :resident) "
        "AND (CAST(:merchant AS bigint) IS NULL OR t.merchant_id = :merchant) "
        "AND (CAST(:only AS bigint) IS NULL OR t.id = :only "
        "     OR (CAST(:station AS bigint) IS NOT NULL AND t.role = 'resident' AND EXISTS ("
        "         SELECT 1 FROM residents r WHERE r.realm = t.realm AND r.id = t.resident_id "
        "            AND r.station_id = :station))) "
        "AND (NOT CAST(:active AS boolean) OR (t.revoked_at IS NULL "
        "     AND (t.expires_at IS NULL OR t.expires_at > now()))) "
        "ORDER BY t.id DESC LIMIT :limit"),
        {"before": before_id, "limit": limit, "realm": scope.get("realm"),
         "resident": scope.get("resident_id"), "merchant": scope.get("merchant_id"),
         "only": scope.get("self_token_id"), "station": scope.get("station_id"),
         "active": bool(scope.get("active"))}))


# enrolments ------------------------------------------------------------------------

_ENROLMENT_COLUMNS = ("id, realm, role, station_id, merchant_id, resident_id, selector, label, created_by, "
                      "created_at, expires_at, failures, claimed_at, token_id")


async def insert_enrolment(conn: AsyncConnection, holder: model.Holder, selector: str, hashed: bytes,
                           label: str | None, created_by: str, expires_at: datetime) -> dict[str, Any] | None:
    """The new enrolment, or None when the selector is taken (the caller draws another)."""
    return _one((await conn.execute(text(
        "INSERT INTO enrolments (realm, role, station_id, merchant_id, resident_id, selector, code_hash, "
        "label, created_by, expires_at) VALUES (:realm, :role, :station, :merchant, :resident, :selector, "
        ":hash, :label, :by, :expires) ON CONFLICT (selector) DO NOTHING "
        f"RETURNING {_ENROLMENT_COLUMNS}"),
        {"realm": holder.realm, "role": holder.role, "station": holder.station_id,
         "merchant": holder.merchant_id, "resident": holder.resident_id, "selector": selector,
         "hash": hashed, "label": label, "by": created_by, "expires": expires_at})).first())


async def find_enrolment(conn: AsyncConnection, enrolment_id: int) -> dict[str, Any] | None:
    return _one((await conn.execute(text(
        f"SELECT {_ENROLMENT_COLUMNS} FROM enrolments WHERE id = :id"), {"id": enrolment_id})).first())


async def lock_enrolment(conn: AsyncConnection, selector: str) -> dict[str, Any] | None:
    return _one((await conn.execute(text(
        f"SELECT {_ENROLMENT_COLUMNS}, code_hash FROM enrolments WHERE selector = :selector FOR UPDATE"),
        {"selector": selector})).first())


async def count_failure(conn: AsyncConnection, enrolment_id: int) -> int:
    return (await conn.execute(text(
        "UPDATE enrolments SET failures = least(failures + 1, :max) WHERE id = :id RETURNING failures"),
        {"id": enrolment_id, "max": model.CLAIM_FAILURES_PER_CODE_MAX})).scalar_one()


async def mark_claimed(conn: AsyncConnection, enrolment_id: int, now: datetime, token_id: int) -> None:
    await conn.execute(text(
        "UPDATE enrolments SET claimed_at = :now, token_id = :token WHERE id = :id"),
        {"id": enrolment_id, "now": now, "token": token_id})


async def client_failures(conn: AsyncConnection, client: str, since: datetime) -> int:
    return (await conn.execute(text(
        "SELECT count(*) FROM enrolment_claim_failures WHERE client = :client AND failed_at > :since"),
        {"client": client, "since": since})).scalar_one()


async def record_client_failure(conn: AsyncConnection, client: str, now: datetime, since: datetime) -> None:
    await conn.execute(text(
        "DELETE FROM enrolment_claim_failures WHERE client = :client AND failed_at <= :since"),
        {"client": client, "since": since})
    await conn.execute(text(
        "INSERT INTO enrolment_claim_failures (client, failed_at) VALUES (:client, :now)"),
        {"client": client, "now": now})
