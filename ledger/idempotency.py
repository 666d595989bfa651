"""Idempotency, written once: the key check, the request hash and the replay answer.

Every POST that changes state takes an `Idempotency-Key`. The first success under a key
is kept, with the hash of what it asked for, for good: the same key with the same request
answers that first result again, flagged `replayed`; the same key with a different request
is refused, 409 `idempotency_key_reused`. A refusal (4xx) takes no key: nothing was
written, so the key may be sent again, for the same request or another.

A request hash is 32 bytes (SHA-256), the type of every `request_hash` column (`bytea`).
Where a repository hands a request to SQL as JSON it writes the hash `.hex()`, and a
hash read back from JSON goes through `stored_hash`.

The hash is over the request's canonical JSON (sorted keys, no spaces, ASCII escapes,
`str()` of anything else). Never change that form: a retry of a request made before the
change would be refused as a different one. Pure: no I/O.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from ledger import errors

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_LENGTH_MAX = 200
HASH_BYTES = 32

_KEY = re.compile(r"^[\x21-\x7e]{1,%d}$" % KEY_LENGTH_MAX)

T = TypeVar("T")


def check_key(key: str | None) -> str | None:
    """An absent key passes (the caller decides whether one is required)."""
    if key is not None and (not isinstance(key, str) or not _KEY.match(key)):
        raise errors.InvalidIdempotencyKey(
            f"an {HEADER} is 1 to {KEY_LENGTH_MAX} printable ASCII characters")
    return key


def require_key(key: str | None) -> str:
    """The key of a request that changes state: present and well-formed."""
    if key is None:
        raise errors.IdempotencyKeyRequired(f"send an {HEADER} header with every post that moves points")
    check_key(key)
    return key


def canonical(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True, default=str).encode()


def request_hash(document: object) -> bytes:
    """Fingerprint of what a request asked for (never who or when)."""
    return hashlib.sha256(canonical(document)).digest()


def stored_hash(value: bytes | bytearray | memoryview | str) -> bytes:
    """A hash as read back: bytes from a `bytea` column, hex from SQL's JSON."""
    return bytes.fromhex(value) if isinstance(value, str) else bytes(value)


def check_same_request(stored: bytes | bytearray | memoryview | str, request: bytes, what: str,
                       **context: Any) -> None:
    """Refuse a key kept for a different request (`what`: "a voucher", "a settlement" ...)."""
    if stored_hash(stored) != request:
        raise errors.IdempotencyKeyReused(f"this {HEADER} was used for {what}", **context)


def replay(first: Mapping[str, Any] | None, request: bytes, what: str,
           id_name: str | None = None) -> dict[str, Any] | None:
    """The first answer under a key (a row with its `request_hash`), flagged replayed;
    None when the key is new. A refusal names the first's `id` as `id_name`."""
    if first is None:
        return None
    context = {id_name: first["id"]} if id_name else {}
    check_same_request(first["request_hash"], request, what, **context)
    return replayed(first)


def replayed(first: Mapping[str, Any]) -> dict[str, Any]:
    return {**first, "replayed": True}


def fresh(result: Mapping[str, Any]) -> dict[str, Any]:
    """A first answer (not a replay)."""
    return {**result, "replayed": False}


def replay_headers(was_replayed: bool) -> dict[str, str]:
    """The response header that tells a client it got the first answer again."""
    return {REPLAYED_HEADER: "true"} if was_replayed else {}


async def once(attempt: Callable[[], Awaitable[T]], raced: type[Exception]) -> T:
    """Run `attempt`; when a twin request under the same key committed first (`raced`,
    the unique key's refusal), run it again: it then finds and answers the twin's result."""
    try:
        return await attempt()
    except raced:
        return await attempt()
