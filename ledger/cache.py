"""The one in-process cache: bounded (least recently used goes first), with an optional
time to live, and invalidation that a look-up under way cannot undo.

Every cache in the service is one of these, so none grows without bound. What a cache
holds must be either immutable (an account's kind and asset, a realm's check-in secret)
or dropped where it changes, in this process (`drop`, `clear`); other processes see a
change at the latest after `ttl_s`, so a cached value with a TTL is only for early
checks whose decisive one is in the database.

A value read from the database while another task drops its key must not be stored
after the drop: `get_or_load` (or `put(..., since=version())`) stores only when nothing
was dropped meanwhile. None is never cached (it means "absent").
"""
from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from ledger.require import require

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    def __init__(self, size_max: int, ttl_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        require(size_max >= 1, "a cache holds at least one entry")
        require(ttl_s is None or ttl_s > 0, "a time to live is positive")
        self.size_max = size_max
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()  # key: (expires at, value)
        self._drops = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None  # type: ignore[arg-type]

    def get(self, key: K) -> V | None:
        found = self._entries.get(key)
        if found is None:
            return None
        if self.ttl_s is not None and found[0] <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return found[1]

    def put(self, key: K, value: V, since: int | None = None) -> None:
        """Store `value`; with `since` (a `version()` read before the value was looked
        up), only if nothing was dropped in between."""
        if value is None or (since is not None and since != self._drops):
            return
        expires_at = self._clock() + self.ttl_s if self.ttl_s is not None else 0.0
        self._entries[key] = (expires_at, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size_max:
            self._entries.popitem(last=False)

    async def get_or_load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        found = self.get(key)
        if found is not None:
            return found
        since = self._drops
        loaded = await load()
        self.put(key, loaded, since)
        return loaded

    def version(self) -> int:
        return self._drops

    def drop(self, key: K) -> None:
        self._drops += 1
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._drops += 1
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
