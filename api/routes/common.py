"""What every route module shares: idempotency keys, timestamps, pages, services.

A handler names the services it calls as typed parameters (`ledger: Ledger`,
`merchants: Merchants`, ...: app-wide dependencies, one per `Services` field, see
`SERVICE_DEPENDENCIES`), its caller as `principal: Caller`, and returns Structs."""
from __future__ import annotations

import functools
import inspect
import operator
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi.spec import OpenAPIType
from litestar.params import HeaderParameter

from api.auth import Principal
from earning.service import Earning

from ledger import errors, idempotency
from ledger.idempotency import HEADER as IDEMPOTENCY_HEADER

Caller = NamedDependency[Principal]  # the authenticated caller, from its bearer token
Service = NamedDependency   # `ledger: Service[Ledger]`: a service of the app, by parameter name
# Required (the OpenAPI document says so), but checked by `required_idempotency_key`, so a
# missing key answers the stable 422 `idempotency_key_required`, not Litestar's own 400.
IdempotencyKey = Annotated[str | None, HeaderParameter(
    name=IDEMPOTENCY_HEADER, required=True, description="the same key makes a retry safe: answered once",
    schema_extra={"one_of": None, "type": OpenAPIType.STRING, "min_length": 1,
                  "max_length": idempotency.KEY_LENGTH_MAX, "pattern": "^[!-~]+$"})]

Item = TypeVar("Item")
Shape = TypeVar("Shape", bound=msgspec.Struct)
PAGING = (errors.InvalidCursor, errors.InvalidInput)   # a cursor not given out; a limit out of range


def shaped(shape: type[Shape], row: Mapping[str, Any]) -> Shape:
    """A database row (its values already typed) as its resource's Struct: the Struct's
    fields taken by name, others ignored, a missing optional field left to its default.
    Positional and unchecked: the fast way (the fuzz test checks answers against the
    document)."""
    return _builder(shape)(row)


def decoded(shape: type[Shape], document: Mapping[str, Any]) -> Shape:
    """A JSON object (built by the database or a `*_json()`) as a Struct: its ISO texts
    become `datetime`, nested objects Structs, every value checked."""
    return msgspec.convert(document, shape)


_REQUIRED = object()


@functools.cache
def _builder(shape: type[Shape]) -> Callable[[Mapping[str, Any]], Shape]:
    parameters = inspect.signature(shape).parameters.values()
    layout = tuple((p.name, _REQUIRED if p.default is inspect.Parameter.empty else p.default) for p in parameters)
    if any(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters):
        return lambda row: shape(**{name: row[name] if default is _REQUIRED else row.get(name, default)
                                    for name, default in layout})
    if all(default is _REQUIRED for _, default in layout):
        pick = operator.itemgetter(*(name for name, _ in layout))
        return (lambda row: shape(pick(row))) if len(layout) == 1 else (lambda row: shape(*pick(row)))
    return lambda row: shape(*[row[name] if default is _REQUIRED else row.get(name, default)
                               for name, default in layout])


class ItemsPage(msgspec.Struct, Generic[Item]):
    """One page of a list: `next_cursor` (absent on the last page) asks for the next."""
    items: list[Item]
    next_cursor: str | None


def service_dependencies(names: list[str], app_state: Callable[[], State]) -> dict[str, Provide]:
    """`{name: Provide(...)}` for every service of the app's `Services` container, which
    the lifespan puts in the app's state: a provider with no parameters, so Litestar has
    nothing to parse for it."""
    return {name: Provide(_service(app_state, name), sync_to_thread=False) for name in names}


def _service(app_state: Callable[[], State], name: str) -> Any:
    def provide() -> Any:
        return getattr(app_state().services, name)
    provide.__name__ = f"provide_{name}"
    return provide


def resolve_dependencies_in_turn(app: Litestar) -> None:
    """Litestar resolves a handler's independent dependencies together, in a task group:
    two tasks and a group per request for `principal` and one service, about a tenth
    of a cheap request's time (bench/RESULTS.md). None of ours waits on another (the
    services are attributes; `principal` is one cache look-up or one query), so each
    handler resolves them one after another, in Litestar's own order: a batch of one is
    awaited directly."""
    for route in app.routes:
        handlers = getattr(route, "route_handler_map", {})
        for _, kwargs_model in handlers.values():
            kwargs_model.dependency_batches = [
                {dependency} for batch in kwargs_model.dependency_batches
                for dependency in sorted(batch, key=operator.attrgetter("key"))]


def guards_without_copies(app: Litestar) -> None:
    """Litestar runs each guard on a copy of its route handler (`copy(handler)` per guard
    per request, so that a guard may change what it is handed): a twentieth of an
    entry's server CPU (bench/RESULTS.md). Ours (`api.auth.roles`, `api.limits`) read the
    connection only, so a handler's guards move into its `before_request` hook, run there
    in Litestar's order on the handler itself, then the hook it had: still before any
    parameter or body is read. (A handler whose answers are cached keeps Litestar's
    guards: a cached answer is served before the hook.)"""
    for route in app.routes:
        for handler, _ in getattr(route, "route_handler_map", {}).values():
            guards = tuple(handler.resolve_guards())
            if guards and not handler.cache:
                handler._resolved_before_request = _guarded(handler, guards, handler.resolve_before_request())
                handler._resolved_guards = []


def _guarded(handler: Any, guards: tuple[Any, ...],
             before_request: Callable[[Any], Awaitable[Any]] | None) -> Callable[[Any], Awaitable[Any]]:
    async def guarded_before_request(request: Any) -> Any:
        for guard in guards:
            await guard(request, handler)
        return await before_request(request) if before_request is not None else None
    return guarded_before_request


def required_idempotency_key(key: str | None) -> str:
    """The header's key (an empty header counts as none), checked by `ledger.idempotency`."""
    return idempotency.require_key(key or None)


def parse_timestamp(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise errors.InvalidTimestamp(f"{value!r} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        raise errors.InvalidTimestamp("timestamps carry a UTC offset, e.g. 2026-11-28T09:00:00+08:00")
    return parsed


Body = TypeVar("Body")


def replayable(body: Body, replayed: bool, status_code: int = 201) -> Response[Body]:
    """A write's answer (a Struct); a replay answers the same, flagged in a header."""
    return Response(body, status_code=status_code, headers=idempotency.replay_headers(replayed))


def services(request: Request[Any, Any, Any]) -> Any:
    return request.app.state.services


async def check_resident_scope(earning: Earning, principal: Principal, realm: str, resident_id: int,
                               *, named: bool = False) -> None:
    """The one check in front of a resident's data in `realm` (`Principal.require_resident`).
    An organizer's resident is looked up when its station matters (a station organizer)
    or when the caller `named` the resident itself (it must be of the caller's realm);
    data that carries its own realm (an account, a voucher) needs no look-up otherwise."""
    station_id = None
    if principal.role == "organizer" and (named or principal.station_id is not None):
        principal.require_realm(realm)
        resident = await earning.resident(resident_id)
        if resident["realm"] != realm:
            raise errors.Forbidden(f"resident {resident_id} is not of realm {realm}")
        station_id = resident["station_id"]
    principal.require_resident(realm, resident_id, station_id)


async def acting_for(earning: Earning, principal: Principal, resident_id: int | None) -> tuple[str, int]:
    """(realm, resident) a write acts for: a resident only for itself, an organizer for
    the resident it names, within its scope (`check_resident_scope`)."""
    if principal.role == "resident":
        if resident_id not in (None, principal.resident_id):
            raise errors.Forbidden("a resident acts only for itself")
        return principal.realm, principal.resident_id  # type: ignore[return-value]
    principal.require_role("organizer")
    if resident_id is None or principal.realm is None:
        raise errors.InvalidInput("an organizer names the resident_id it acts for")
    await check_resident_scope(earning, principal, principal.realm, resident_id, named=True)
    return principal.realm, resident_id

