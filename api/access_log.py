"""One access line per request for the operator: method, path, status, milliseconds and a
request id, which the answer also carries in `X-Request-Id` (so a user's report of a
failure can be found in the log). An incoming `X-Request-Id` of safe characters is kept."""
from __future__ import annotations

import logging
import re
import secrets
import time
from typing import Any

log = logging.getLogger("pointsbank.access")
REQUEST_ID_HEADER = b"x-request-id"
_SAFE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")


def request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == REQUEST_ID_HEADER and _SAFE_REQUEST_ID.match(value):
            return value.decode()
    return secrets.token_hex(8)


class AccessLog:
    """ASGI middleware around the whole app (pages, API, static files)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope.get("headers", []))
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []),
                                                   (REQUEST_ID_HEADER, rid.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info("%s %s %d %.1fms id=%s", scope["method"], scope["path"], status,
                     (time.perf_counter() - started) * 1000, rid)
