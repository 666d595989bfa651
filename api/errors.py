"""The one place where errors become HTTP: RFC 9457 problem+json with a stable `code`."""
from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import msgspec
import psycopg
from litestar import Request, Response
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.exceptions import (HTTPException, MethodNotAllowedException, NotAuthorizedException,
                                 NotFoundException, PermissionDeniedException,
                                 SerializationException, ValidationException)
from sqlalchemy.exc import DBAPIError

from ledger import db, errors

PROBLEM_MEDIA_TYPE = "application/problem+json"

# A domain error's category decides its status; the error's own class gives the code.
STATUS_BY_CATEGORY: tuple[tuple[type[errors.DomainError], int], ...] = (
    (errors.BadRequest, 400),
    (errors.Unauthorized, 401),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.Refused, 422),
    (errors.InvalidInput, 422),
    (errors.Unavailable, 503),
    (errors.Throttled, 429),
)
RETRY_AFTER_S = 2   # what a 429 or 503 asks a client to wait when the error names no time

log = logging.getLogger(__name__)

# Codes this module answers itself (no domain error raises them): defined here so that
# `problems()` documents them like any other.
InvalidRequest = errors.define("InvalidRequest", errors.BadRequest, "invalid_request", __name__)
MalformedJson = errors.define("MalformedJson", errors.BadRequest, "malformed_json", __name__)
DatabaseUnavailable = errors.define("DatabaseUnavailable", errors.Unavailable, "database_unavailable", __name__)


class Problem(msgspec.Struct, kw_only=True):
    """An error, RFC 9457 problem details (`application/problem+json`). `code` is stable:
    branch on it, never on `detail`. The error's context may add fields (`field`,
    `retry_after_s`, ...)."""
    type: str        # urn:pointsbank:problem:<code>
    title: str       # the code in words
    status: int      # the HTTP status, again
    code: str
    detail: str      # for a person; may change
    errors: list[Any] | msgspec.UnsetType = msgspec.UNSET   # invalid_request: what failed to decode
    retry_after_s: int | msgspec.UnsetType = msgspec.UNSET  # 429 and 503: also in Retry-After


def status_of(error: errors.DomainError | type[errors.DomainError]) -> int:
    cls = error if isinstance(error, type) else type(error)
    for category, status in STATUS_BY_CATEGORY:
        if issubclass(cls, category):
            return status
    return 500


def problem_body(status: int, code: str, detail: str) -> dict[str, Any]:
    return {"type": f"urn:pointsbank:problem:{code}", "title": code.replace("_", " "),
            "status": status, "code": code, "detail": detail}


def problems(*answers: type[errors.DomainError] | Iterable[type[errors.DomainError]]) -> dict[int, ResponseSpec]:
    """The OpenAPI `responses=` of an operation: the domain errors it can answer, grouped
    by status, each status documented as problem+json with its codes (and one example per
    code). Pass error classes or collections of them; `api.openapi.document` adds the
    ones every operation shares (400, 401, 403, 429, 503)."""
    by_status: dict[int, dict[str, type[errors.DomainError]]] = {}
    for answer in answers:
        for cls in (answer,) if isinstance(answer, type) else answer:
            by_status.setdefault(status_of(cls), {})[cls.code] = cls
    return {status: problem_spec(status, sorted(by_code)) for status, by_code in sorted(by_status.items())}


def problem_spec(status: int, codes: list[str]) -> ResponseSpec:
    return ResponseSpec(
        data_container=Problem, media_type=PROBLEM_MEDIA_TYPE, generate_examples=False,
        description=f"problem+json; code: {', '.join(codes)}",
        examples=[Example(summary=code, value=problem_body(status, code, code.replace("_", " ")))
                  for code in codes])


def problem(status: int, code: str, detail: str, **extra: Any) -> Response[dict[str, Any]]:
    body = {**problem_body(status, code, detail), **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status in (429, 503):  # shed or throttled: say when to come back
        headers = {"Retry-After": str(extra.get("retry_after_s") or RETRY_AFTER_S)}
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def domain_error_handler(_: Request, exc: errors.DomainError) -> Response[dict[str, Any]]:
    status = status_of(exc)
    if status == 500:
        log.error("unmapped domain error %s: %s", exc.code, exc.detail)
    return problem(status, exc.code, exc.detail, **_json_safe(exc.context))


def validation_handler(_: Request, exc: ValidationException) -> Response[dict[str, Any]]:
    return problem(400, InvalidRequest.code, _first_line(exc.detail),
                   errors=exc.extra if isinstance(exc.extra, list) else [])


def serialization_handler(_: Request, exc: SerializationException) -> Response[dict[str, Any]]:
    return problem(400, MalformedJson.code, "the request body is not valid JSON")


def http_handler(_: Request, exc: HTTPException) -> Response[dict[str, Any]]:
    code = {
        400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
        405: "method_not_allowed", 413: "request_too_large", 415: "unsupported_media_type",
    }.get(exc.status_code, "http_error")
    if isinstance(exc, NotFoundException):
        code = "not_found"
    elif isinstance(exc, MethodNotAllowedException):
        code = "method_not_allowed"
    elif isinstance(exc, NotAuthorizedException):
        code = "unauthorized"
    elif isinstance(exc, PermissionDeniedException):
        code = "forbidden"
    elif exc.status_code == 400 and isinstance(exc.__cause__, (SerializationException, msgspec.DecodeError)):
        return problem(400, MalformedJson.code, f"the request body is not valid JSON: {_first_line(exc.detail)}")
    return problem(exc.status_code, code, _first_line(exc.detail))


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def retry_advice(request: Request) -> str:
    """What a caller should do after a 5xx: a read is simply tried again; a write is
    retried with the same Idempotency-Key, so it takes effect at most once."""
    return "try again in a moment" if request.method in SAFE_METHODS else "retry with the same Idempotency-Key"


def database_handler(request: Request, exc: Exception) -> Response[dict[str, Any]]:
    """The database cannot be reached (refused, dropped, shut down, pool exhausted): 503,
    whatever the route. Any other database error is a defect: 500."""
    if isinstance(exc, db.PoolTimeout):
        return pool_timeout_handler(request, exc)
    if db.is_unreachable(exc):
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, _first_line(exc))
        return problem(503, DatabaseUnavailable.code,
                       f"the database cannot be reached; {retry_advice(request)}")
    return internal_handler(request, exc)


def pool_timeout_handler(request: Request, _: db.PoolTimeout) -> Response[dict[str, Any]]:
    return domain_error_handler(request, db.pool_exhausted())


def internal_handler(request: Request, exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    advice = retry_advice(request)
    return problem(500, "internal_error", f"the service failed unexpectedly; {advice}")


EXCEPTION_HANDLERS = {
    errors.DomainError: domain_error_handler,
    ValidationException: validation_handler,
    SerializationException: serialization_handler,
    HTTPException: http_handler,
    DBAPIError: database_handler,
    db.PoolTimeout: pool_timeout_handler,
    psycopg.OperationalError: database_handler,
    Exception: internal_handler,
}


def _first_line(text: Any) -> str:
    return str(text).splitlines()[0] if text else ""


def _json_safe(context: dict[str, Any]) -> dict[str, Any]:
    reserved = {"type", "title", "status", "code", "detail"}
    return {k: v for k, v in context.items()
            if k not in reserved and isinstance(v, (str, int, float, bool, type(None)))}
