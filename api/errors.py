"""The one place where errors become HTTP: RFC 9457 problem+json with a stable `code`."""
from __future__ import annotations

import logging
from typing import Any

import msgspec
import psycopg
from litestar import Request, Response
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


def status_of(error: errors.DomainError) -> int:
    for category, status in STATUS_BY_CATEGORY:
        if isinstance(error, category):
            return status
    return 500


def problem(status: int, code: str, detail: str, **extra: Any) -> Response[dict[str, Any]]:
    body = {"type": f"urn:pointsbank:problem:{code}", "title": code.replace("_", " "),
            "status": status, "code": code, "detail": detail, **extra}
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
    return problem(400, "invalid_request", _first_line(exc.detail),
                   errors=exc.extra if isinstance(exc.extra, list) else [])


def serialization_handler(_: Request, exc: SerializationException) -> Response[dict[str, Any]]:
    return problem(400, "malformed_json", "the request body is not valid JSON")


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
        return problem(400, "malformed_json", f"the request body is not valid JSON: {_first_line(exc.detail)}")
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
        return problem(503, "database_unavailable",
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
