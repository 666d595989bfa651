"""Bearer tokens: random, shown once, stored as SHA-256; roles with scopes. The tokens
themselves (enrolment, expiry, revocation) live in `access`; this module turns a bearer
header into a `Principal` for the routes.

Look-ups are cached in process, but a request uses the cache only after the revocation
listener has heard every revocation committed before the request arrived (one shared
round trip on the listening connection; none while it is down), and the cache empties on
every notice: a revoked token answers 401 `token_revoked` at once in every server
process (access/revocations.py). Expiry is checked on every request.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncEngine

from access import model as access_model
from access.revocations import RevocationListener
from access.service import Access
from ledger import errors
from ledger.cache import BoundedCache

ROLES = access_model.ROLES


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
        for a station organizer; `api.routes.common.check_resident_scope` looks it up)."""
        self.require_realm(realm)
        if self.role == "resident":
            if self.resident_id != resident_id:
                raise errors.Forbidden("a resident acts only for itself")
            return
        self.require_role("organizer", "admin", "auditor")
        self.require_station(realm, station_id)


async def create_token(engine: AsyncEngine, role: str, realm: str | None = None,
                       station_id: int | None = None, merchant_id: int | None = None,
                       resident_id: int | None = None, label: str | None = None,
                       check_holder: bool = True) -> str:
    """Store a new token's hash and return the token itself (shown once, never stored).
    The resident, merchant or station it names must exist unless `check_holder` is off
    (tests that need a token for an account without a registered person)."""
    holder = access_model.Holder(role, realm, station_id, merchant_id, resident_id)
    token, _ = await Access(engine).create_token(holder, label, check_holder=check_holder)
    return token


def principal_of(record: dict[str, Any]) -> Principal:
    return Principal(token_id=record["id"], role=record["role"], realm=record["realm"],
                     station_id=record["station_id"], merchant_id=record["merchant_id"],
                     resident_id=record["resident_id"])


TOKEN_CACHE_SIZE_MAX = 10_000


class Authenticator:
    """Bearer header -> Principal. Without a listener (or while it is disconnected) every
    request looks its token up."""

    def __init__(self, access: Access, listener: RevocationListener | None = None) -> None:
        self._access = access
        self._listener = listener
        self._cache: BoundedCache[str, dict[str, Any]] = BoundedCache(TOKEN_CACHE_SIZE_MAX)
        self._generation = -1

    def revoked(self) -> None:
        """This process revoked a token: forget what is cached at once (and let no look-up
        under way cache what it read before)."""
        self._cache.clear()
        if self._listener is not None:
            self._listener.moved(self._listener.live)

    async def _caching(self) -> bool:
        """Whether the cache may answer now: the listener has heard every revocation
        committed before this moment (and the cache was emptied for any)."""
        if self._listener is None or not await self._listener.synced():
            return False
        if self._generation != self._listener.generation:   # a revocation, or a reconnection
            self._cache.clear()
            self._generation = self._listener.generation
        return True

    async def principal(self, authorization: str | None) -> Principal:
        token = _bearer(authorization)
        caching = await self._caching()
        record = self._cache.get(token) if caching else None
        if record is None:
            generation = self._generation
            record = await self._access.lookup(token)
            if caching and self._listener is not None and generation == self._listener.generation:
                self._cache.put(token, record)                      # nothing was revoked meanwhile
        admitted = await self._access.admit(record)
        if admitted is not record and token in self._cache:
            self._cache.put(token, admitted)                       # renewed
        return principal_of(admitted)


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise errors.Unauthorized("send Authorization: Bearer <token>")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > access_model.TOKEN_LENGTH_MAX:
        raise errors.Unauthorized("send Authorization: Bearer <token>")
    return token


async def current_principal(request: Request[Any, Any, Any]) -> Principal:
    """Litestar dependency: the caller, from its bearer token (already known when a
    guard looked it up for this request)."""
    known = request.state.get("principal")
    if known is not None:
        return known
    authenticator: Authenticator = request.app.state.authenticator
    principal = await authenticator.principal(request.headers.get("authorization"))
    request.state.principal = principal
    return principal


def roles(*allowed: str) -> Callable[[Any, Any], Awaitable[None]]:
    """A guard: the caller holds one of the `allowed` roles (403 otherwise), checked
    before the request body is read. Its realm or scope the handler checks against what
    it touches. A missing or unknown token is left to the handler's `principal`
    dependency (401 after the body decodes, as on every route), so a handler guarded by
    `roles` takes `principal` (`api.openapi.document` refuses one that does not)."""
    async def guard(connection: Any, _: Any) -> None:
        try:
            principal = await current_principal(connection)
        except errors.Unauthorized:
            return
        principal.require_role(*allowed)
    guard.needs_principal = True  # type: ignore[attr-defined]   (checked by api.openapi.document)
    return guard


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def auditors_read_only(connection: Any) -> None:
    """An auditor token is read-only everywhere: the app's `before_request` asks this
    after the route's guards and before a handler parses its body, so every write route
    answers an auditor 403. The caller is looked up once per request: a guard that
    found it already left it in the request's state (`current_principal`).
    (Not a guard itself: Litestar copied the handler for every guard it ran; see
    `api.routes.common.guards_without_copies`.)"""
    if connection.scope.get("type") != "http" or connection.scope.get("method") in SAFE_METHODS:
        return
    try:
        principal = await current_principal(connection)
    except errors.Unauthorized:
        return  # the handler's own authentication answers 401
    if principal.role == "auditor":
        raise errors.Forbidden("an auditor token is read-only")
