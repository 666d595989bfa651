"""Request decoding: the one place where untrusted input is shaped before a handler runs.

- A JSON body decodes strictly into the handler's msgspec Struct: `"5"` is not an
  integer, `5.0` is not either.
- Its nesting is bounded (`JSON_DEPTH_MAX`), so a deeply nested body is a 400, not a
  RecursionError.
- Every integer, in the body, the path or the query, fits PostgreSQL's BIGINT; every
  text has no NUL character (PostgreSQL text cannot hold one). Both are refused here,
  before any query is built, so no route and no batch (group commit) ever sees them.
"""
from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException

from ledger import errors

BIGINT_MIN = -(2 ** 63)
BIGINT_MAX = 2 ** 63 - 1
JSON_DEPTH_MAX = 32          # levels of arrays and objects in a request body


InvalidText = errors.define("InvalidText", errors.BadRequest, "invalid_text", __name__)
NumberOutOfRange = errors.define("NumberOutOfRange", errors.BadRequest, "number_out_of_range", __name__)
JsonTooDeep = errors.define("JsonTooDeep", errors.BadRequest, "json_too_deep", __name__)


def check_text(value: str, where: str) -> None:
    if "\x00" in value:
        raise InvalidText(f"{where} contains a NUL character", field=where)


def check_integer(value: int, where: str) -> None:
    if not BIGINT_MIN <= value <= BIGINT_MAX:
        raise NumberOutOfRange(f"{where} is outside the 64-bit integer range", field=where)


def check_json(value: Any) -> None:
    """Depth, texts (keys too) and integers of a decoded JSON document; iterative, so
    its own depth is bounded whatever the input. A value's place is kept as a chain of
    (parent, key or index) and spelled out only for an error."""
    pending: list[tuple[Any, int, Place]] = [(value, 0, None)]
    while pending:
        item, depth, place = pending.pop()
        if isinstance(item, (dict, list)):
            if depth >= JSON_DEPTH_MAX:
                raise JsonTooDeep(f"a request body nests at most {JSON_DEPTH_MAX} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    if "\x00" in key:
                        check_text(key, spelled(place))
                    pending.append((child, depth + 1, (place, key)))
            else:
                pending.extend((child, depth + 1, (place, index)) for index, child in enumerate(item))
        elif isinstance(item, str):
            if "\x00" in item:
                check_text(item, spelled(place))
        elif isinstance(item, int) and not isinstance(item, bool) and not BIGINT_MIN <= item <= BIGINT_MAX:
            check_integer(item, spelled(place))


Place = tuple[Any, str | int] | None     # (the parent's place, a key or an index); None: the document


def spelled(place: Place) -> str:
    """`$.postings[1].amount` for the chain of (parent, key or index)."""
    steps: list[str] = []
    while place is not None:
        place, step = place
        steps.append(f"[{step}]" if isinstance(step, int) else f".{step}")
    return "$" + "".join(reversed(steps))


class CheckedRequest(Request):
    """The app's request class: `json()` answers the handler's body type, decoded strictly
    and checked (Litestar's own conversion afterwards passes the Struct through)."""

    async def json(self) -> Any:
        try:
            decoded = await super().json()
        except RecursionError:
            raise JsonTooDeep(f"a request body nests at most {JSON_DEPTH_MAX} levels") from None
        check_json(decoded)
        field = self.route_handler.parsed_data_field
        if field is None:
            return decoded
        try:
            return msgspec.convert(decoded, field.annotation, strict=True)
        except msgspec.ValidationError as exc:
            raise ValidationException(detail=f"invalid request body: {exc}") from None


async def check_parameters(request: Request) -> None:
    """App-wide `before_request`: path and query parameters get the same checks as bodies.
    A query value that reads as an integer must fit 64 bits whatever its parameter's type."""
    for name, value in request.path_params.items():
        if isinstance(value, str):
            check_text(value, name)
        elif isinstance(value, int):
            check_integer(value, name)
    for name, value in request.query_params.multi_items():
        check_text(name, name)
        check_text(value, name)
        try:  # read as the handler's integer parameters will be (which also takes "5e3")
            number = msgspec.convert(value, int, strict=False)
        except msgspec.ValidationError:
            continue
        check_integer(number, name)
