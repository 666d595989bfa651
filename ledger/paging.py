"""Pages, written once: page sizes, opaque cursors, and the next cursor.

A list asks its repository for `fetch_size(size)` rows (one more than the page) and
hands them to `page_of`: the page keeps `size` of them, and gets a `next_cursor` only
when that one more row exists, so the last page never sends a client to an empty one.

A cursor is `<kind>:<part>[:<part>...]` in URL-safe base64 without padding; `kind`
names the list, so a cursor of one list is refused by another. Pure: no I/O.
"""
from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ledger import errors

PAGE_SIZE_DEFAULT = 50
PAGE_SIZE_MAX = 200

T = TypeVar("T")

_NOT_OURS = "the cursor is not one this service gave out"


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def check_page_size(limit: int | None, default: int = PAGE_SIZE_DEFAULT, maximum: int = PAGE_SIZE_MAX) -> int:
    if limit is None:
        return default
    if not 1 <= limit <= maximum:
        raise errors.InvalidInput(f"limit is between 1 and {maximum}")
    return limit


def fetch_size(size: int) -> int:
    """How many rows to fetch for a page of `size`: one more tells whether another page follows."""
    return size + 1


def page_of(rows: list[T], size: int, cursor_after: Callable[[T], str]) -> Page[T]:
    """The first `size` of `rows` (fetched with `fetch_size(size)`); a next cursor, made
    from the page's last item, only when a further row exists."""
    items = rows[:size]
    return Page(items, cursor_after(items[-1]) if len(rows) > size else None)


def offset_page(rows: list[T], size: int, offset: int, kind: str) -> Page[T]:
    """`page_of` for lists paged by position (ranked lists): the cursor is the next offset."""
    return page_of(rows, size, lambda _: encode_cursor(offset + size, kind))


def encode_parts(kind: str, *parts: int | str) -> str:
    raw = ":".join((kind, *(str(part) for part in parts)))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_parts(cursor: str, kind: str, count: int | tuple[int, ...]) -> list[str]:
    """The parts of a cursor of list `kind`, `count` of them (or one of the counts);
    anything else is InvalidCursor."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise errors.InvalidCursor(_NOT_OURS) from None
    prefix, *parts = raw.split(":")
    if prefix != kind or len(parts) not in (count if isinstance(count, tuple) else (count,)):
        raise errors.InvalidCursor(_NOT_OURS)
    return parts


def encode_cursor(position: int, kind: str = "p1") -> str:
    """An opaque page cursor: continue past this position (an account_seq, an id, a rank)."""
    return encode_parts(kind, position)


def decode_cursor(cursor: str | None, kind: str = "p1", minimum: int = 1) -> int | None:
    if cursor is None or cursor == "":
        return None
    (number,) = decode_parts(cursor, kind, 1)
    return whole_at_least(number, minimum)


def whole_at_least(text: str, minimum: int) -> int:
    try:
        position = int(text)
    except ValueError:
        raise errors.InvalidCursor(_NOT_OURS) from None
    if position < minimum:
        raise errors.InvalidCursor(_NOT_OURS)
    return position


@dataclass(frozen=True)
class Cursor:
    """The cursor of one list: its kind and the least position it may carry."""
    kind: str
    minimum: int = 1

    def encode(self, position: int) -> str:
        return encode_cursor(position, self.kind)

    def decode(self, cursor: str | None) -> int | None:
        return decode_cursor(cursor, self.kind, self.minimum)

    def after(self, key: str) -> Callable[[dict[str, Any]], str]:
        """The cursor after a row, from its `key` column (for `page_of`)."""
        return lambda row: self.encode(row[key])
