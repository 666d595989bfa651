"""The one bounded cache: least recently used goes first, entries expire, and a drop
during a look-up is not undone by that look-up."""
import asyncio

import pytest

from ledger.cache import BoundedCache
from ledger.model import AccountMeta
from ledger.service import AccountDirectory
from ledger.require import InvariantBroken


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_least_recently_used_entry_goes_first():
    cache: BoundedCache[str, int] = BoundedCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1        # "a" is now the most recent
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    assert len(cache) == 2


def test_entries_expire_after_their_time_to_live():
    clock = Clock()
    cache: BoundedCache[str, int] = BoundedCache(10, ttl_s=5.0, clock=clock)
    cache.put("a", 1)
    clock.now += 4.9
    assert cache.get("a") == 1
    clock.now += 0.2
    assert cache.get("a") is None and len(cache) == 0


def test_drop_and_clear():
    cache: BoundedCache[str, int] = BoundedCache(10)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.drop("a")
    cache.drop("absent")
    assert (cache.get("a"), cache.get("b")) == (None, 2)
    cache.clear()
    assert len(cache) == 0


def test_none_is_never_cached():
    cache: BoundedCache[str, int | None] = BoundedCache(10)
    cache.put("a", None)
    assert len(cache) == 0


def test_a_load_answers_once_then_comes_from_the_cache():
    cache: BoundedCache[str, int] = BoundedCache(10)
    loads = []

    async def load() -> int:
        loads.append(1)
        return 7

    async def twice() -> tuple[int, int]:
        return await cache.get_or_load("a", load), await cache.get_or_load("a", load)

    assert asyncio.run(twice()) == (7, 7)
    assert len(loads) == 1


def test_a_value_read_before_a_drop_is_not_stored_after_it():
    """A status change drops the merchant while a look-up of it is in flight: that
    look-up's (old) answer must not go back into the cache."""
    cache: BoundedCache[str, str] = BoundedCache(10)

    async def scenario() -> str | None:
        reading = asyncio.Event()
        release = asyncio.Event()

        async def slow_load() -> str:
            reading.set()
            await release.wait()
            return "active (read before the change)"

        task = asyncio.ensure_future(cache.get_or_load("m1", slow_load))
        await reading.wait()
        cache.drop("m1")                 # the change commits meanwhile
        release.set()
        assert await task == "active (read before the change)"   # the caller gets what it read
        return cache.get("m1")

    assert asyncio.run(scenario()) is None


def test_limits_are_checked():
    with pytest.raises(InvariantBroken):
        BoundedCache(0)
    with pytest.raises(InvariantBroken):
        BoundedCache(1, ttl_s=0)


def test_the_account_directory_is_bounded():
    """Account facts never change (no drop needed), but no more are kept than the bound."""
    directory = AccountDirectory(size_max=2)
    for n in (1, 2, 3):
        directory.remember(AccountMeta("430104", n, "resident", "civic", 0))
    assert sorted(directory.cached([1, 2, 3])) == [2, 3]
