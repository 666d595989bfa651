"""Bearer tokens: random, shown once, stored as SHA-256; roles with scopes.

Token look-ups are cached in process for `TOKEN_CACHE_TTL_S`, so a revoked token stops
working within that time.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from litestar import Request
from sqlalchemy import BigInteger, Column, DateTime, LargeBinary, MetaData, Table, Text, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger import db, errors, model

ROLES = ("admin", "organizer", "merchant", "auditor", "resident")
TOKEN_PREFIX = "pb_"
TOKEN_BYTES = 32
TOKEN_LENGTH_MAX = 100
TOKEN_CACHE_TTL_S = 30.0
TOKEN_CACHE_SIZE_MAX = 10_000

api_tokens = Table(
    "api_tokens", MetaData(),
    Column("id", BigInteger, primary_key=True),
    Column("token_hash", LargeBinary),
    Column("role", Text),
    Column("realm", Text),
    Column("station_id", BigInteger),
    Column("merchant_id", BigInteger),
    Column("resident_id", BigInteger),
    Column("label", Text),
    Column("created_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)


@dataclass(frozen=True)
class Principal:
    token_id: int
    role: str
    realm: str | None          # None only for an all-realms admin
    station_id: int | None = None
    merchant_id: int | None = None
    resident_id: int | None = None

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.token_id}"

    def require_role(self, *roles: str) -> None:
        if self.role not in roles:
            raise errors.Forbidden(f"a {self.role} token cannot do this")

    def require_realm(self, realm: str) -> None:
        if self.realm is not None and self.realm != realm:
            raise errors.Forbidden(f"this token is scoped to realm {self.realm}")

    def require(self, realm: str, *roles: str) -> None:
        self.require_role(*roles)
        self.require_realm(realm)

    def require_station(self, realm: str, station_id: int | None) -> None:
        """Realm scope, and an organizer whose token names a station acts only there."""
        self.require_realm(realm)
        if self.role == "organizer" and self.station_id is not None and station_id != self.station_id:
            raise errors.Forbidden(f"this token is scoped to station {self.station_id}")

    def require_resident(self, realm: str, resident_id: int, station_id: int | None) -> None:
        """Who may read or act on one resident's data (accounts, vouchers, awards ...): the
        resident itself; an organizer of its station, or of its whole realm; an admin or an
        auditor of its realm (the auditor only reads: `auditors_read_only`). Never a
        merchant or another resident. `station_id` is the resident's station (needed only
        for a station organizer; `api.routes.common.require_resident_scope` looks it up)."""
        self.require_realm(realm)
        if self.role == "resident":
            if self.resident_id != resident_id:
                raise errors.Forbidden("a resident acts only for itself")
            return
        self.require_role("organizer", "admin", "auditor")
        self.require_station(realm, station_id)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


async def create_token(engine: AsyncEngine, role: str, realm: str | None = None,
                       station_id: int | None = None, merchant_id: int | None = None,
                       resident_id: int | None = None, label: str | None = None) -> str:
    """Store a new token's hash and return the token itself (shown once, never stored)."""
    if role not in ROLES:
        raise errors.InvalidInput(f"role is one of {', '.join(ROLES)}")
    if realm is not None:
        model.check_realm_code(realm)
    if role != "admin" and realm is None:
        raise errors.InvalidInput(f"a {role} token needs a realm")
    if role == "merchant" and merchant_id is None:
        raise errors.InvalidInput("a merchant token needs a merchant")
    if role == "resident" and resident_id is None:
        raise errors.InvalidInput("a resident token needs a resident")
    token = new_token()

    async def work(conn: AsyncConnection) -> None:
        await conn.execute(insert(api_tokens).values(
            token_hash=hash_token(token), role=role, realm=realm, station_id=station_id,
            merchant_id=merchant_id, resident_id=resident_id, label=label))

    await db.in_transaction(engine, work)
    return token


class Authenticator:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._cache: dict[bytes, tuple[float, Principal | None]] = {}

    async def principal(self, authorization: str | None) -> Principal:
        token = _bearer(authorization)
        digest = hash_token(token)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is None or cached[0] < now:
            found = await db.read(self._engine, lambda conn: _find(conn, digest))
            if len(self._cache) >= TOKEN_CACHE_SIZE_MAX:
                self._cache.clear()
            cached = (now + TOKEN_CACHE_TTL_S, found)
            self._cache[digest] = cached
        if cached[1] is None:
            raise errors.Unauthorized("unknown or revoked token")
        return cached[1]


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise errors.Unauthorized("send Authorization: Bearer <token>")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > TOKEN_LENGTH_MAX:
        raise errors.Unauthorized("send Authorization: Bearer <token>")
    return token


async def _find(conn: AsyncConnection, digest: bytes) -> Principal | None:
    row = (await conn.execute(select(api_tokens).where(
        api_tokens.c.token_hash == digest, api_tokens.c.revoked_at.is_(None)))).first()
    if row is None:
        return None
    return Principal(token_id=row.id, role=row.role, realm=row.realm, station_id=row.station_id,
                     merchant_id=row.merchant_id, resident_id=row.resident_id)


async def current_principal(request: Request[Any, Any, Any]) -> Principal:
    """Litestar dependency: the caller, from its bearer token (already known when the
    write guard below looked it up for this request)."""
    known = request.state.get("principal")
    if known is not None:
        return known
    authenticator: Authenticator = request.app.state.authenticator
    return await authenticator.principal(request.headers.get("authorization"))


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def auditors_read_only(connection: Any, _: Any) -> None:
    """App-wide guard: an auditor token is read-only everywhere. It runs before a
    handler parses its body, so every write route answers an auditor 403."""
    if connection.scope.get("type") != "http" or connection.scope.get("method") in SAFE_METHODS:
        return
    authorization = connection.headers.get("authorization")
    if not authorization:
        return  # the handler's own authentication answers 401
    try:
        principal = await connection.app.state.authenticator.principal(authorization)
    except errors.Unauthorized:
        return
    connection.state.principal = principal
    if principal.role == "auditor":
        raise errors.Forbidden("an auditor token is read-only")
