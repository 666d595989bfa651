"""Rate limits: a token bucket per key (a token id, or a client address), in memory.

Each key may spend `burst` requests at once and earns `rate_per_s` back; past that a
request is refused with `RateLimited` (429) and the seconds until the next one is
allowed (Retry-After). Memory is bounded: at most `keys_max` buckets, the least recently
used one is forgotten first (a forgotten key starts again with a full bucket).

Used as a route guard: `guards=[per_token("render")]` for work worth limiting per
caller (renderings), `guards=[per_address("public")]` for anything answered without a
token. The limiters are built once per app (`Limits`, on `app.state.limits`).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from api.auth import current_principal
from ledger import errors
from ledger.cache import BoundedCache
from ledger.require import require

if TYPE_CHECKING:
    from api.settings import Settings

RENDER_RATE_PER_S = 1.0     # QR codes and PDFs per token, sustained
RENDER_BURST = 20           # ... and at once
PUBLIC_RATE_PER_S = 20.0    # unauthenticated requests per client address, sustained
PUBLIC_BURST = 100          # ... and at once
KEYS_MAX = 10_000           # buckets kept per limiter
RATE_LIMITED_GUARD = "rate_limited"   # the attribute that marks a limiting guard (api.openapi documents its 429)


class RateLimiter:
    def __init__(self, rate_per_s: float, burst: int, keys_max: int = KEYS_MAX,
                 clock: Callable[[], float] = time.monotonic) -> None:
        require(rate_per_s > 0, "a limiter earns requests back")
        require(burst >= 1, "a limiter allows at least one request")
        require(keys_max >= 1, "a limiter keeps at least one bucket")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.keys_max = keys_max
        self.clock = clock
        self._buckets: BoundedCache[object, tuple[float, float]] = BoundedCache(keys_max)  # key: (tokens, at)

    def take(self, key: object) -> None:
        """Spend one request of `key`'s bucket, or raise `RateLimited` with Retry-After."""
        now = self.clock()
        tokens, at = self._buckets.get(key) or (float(self.burst), now)
        tokens = min(float(self.burst), tokens + (now - at) * self.rate_per_s)
        refused = tokens < 1.0
        self._buckets.put(key, (tokens if refused else tokens - 1.0, now))
        if refused:
            wait_s = (1.0 - tokens) / self.rate_per_s
            raise errors.RateLimited("too many requests; wait before retrying",
                                     retry_after_s=max(1, math.ceil(wait_s)))

    def __len__(self) -> int:
        return len(self._buckets)


@dataclass
class Limits:
    render: RateLimiter   # per token: QR PNG/SVG, voucher and statement PDFs
    public: RateLimiter   # per client address: endpoints that need no token

    @classmethod
    def from_settings(cls, settings: "Settings", clock: Callable[[], float] = time.monotonic) -> "Limits":
        return cls(render=RateLimiter(settings.render_rate_per_s, settings.render_burst, clock=clock),
                   public=RateLimiter(settings.public_rate_per_s, settings.public_burst, clock=clock))


def _limiter(connection: Any, name: str) -> RateLimiter:
    return getattr(connection.app.state.limits, name)


def client_address(connection: Any) -> str:
    client = connection.client
    return client.host if client is not None else "unknown"


def per_address(name: str) -> Callable[[Any, Any], Any]:
    """A guard: spend one request of the caller's address in limiter `name`."""
    async def guard(connection: Any, _: Any) -> None:   # async: Litestar keeps it as it is
        _limiter(connection, name).take(client_address(connection))
    setattr(guard, RATE_LIMITED_GUARD, True)
    return guard


def per_token(name: str) -> Callable[[Any, Any], Any]:
    """A guard: spend one request of the caller's token in limiter `name` (its address
    when the token is missing or unknown; the handler then answers 401)."""
    async def guard(connection: Any, _: Any) -> None:
        try:
            principal = await current_principal(connection)
        except errors.Unauthorized:
            _limiter(connection, name).take(client_address(connection))
            return
        _limiter(connection, name).take(("token", principal.token_id))
    setattr(guard, RATE_LIMITED_GUARD, True)
    return guard
