"""`RevocationListener.synced()` without a database: a round of waiters is answered by the
listener's round trip, or False once SYNC_TIMEOUT_S has passed (a listener that is stuck),
and a request that came after a stuck round is not left waiting on it."""
from __future__ import annotations

import asyncio

import pytest

from access import revocations
from access.revocations import RevocationListener

TIMEOUT_S = 0.05


@pytest.fixture(autouse=True)
def short_timeout(monkeypatch):
    monkeypatch.setattr(revocations, "SYNC_TIMEOUT_S", TIMEOUT_S)


def stuck_listener() -> RevocationListener:
    """Live, but nothing answers its rounds (its connection's round trip never returns)."""
    listener = RevocationListener("postgresql://unused@127.0.0.1:1/unused")
    listener.live = True
    return listener


def test_a_stuck_round_answers_false_in_time_and_the_next_round_too():
    async def scene() -> None:
        listener = stuck_listener()
        first = await asyncio.wait_for(asyncio.gather(listener.synced(), listener.synced()), 20 * TIMEOUT_S)
        assert first == [False, False]
        assert await asyncio.wait_for(listener.synced(), 20 * TIMEOUT_S) is False
    asyncio.run(scene())


def test_a_round_the_listener_answers_is_true_and_a_later_expiry_changes_nothing():
    async def scene() -> None:
        listener = stuck_listener()
        waiting = [asyncio.ensure_future(listener.synced()) for _ in range(3)]
        await asyncio.sleep(0)
        listener._release(True)      # the listener's round trip came back
        assert await asyncio.gather(*waiting) == [True, True, True]
        await asyncio.sleep(2 * TIMEOUT_S)   # that round's timer fires: nothing left to answer
        late = asyncio.ensure_future(listener.synced())
        await asyncio.sleep(0)
        listener._release(True)
        assert await late is True
    asyncio.run(scene())


def test_a_listener_that_is_down_answers_false_at_once():
    async def scene() -> None:
        listener = stuck_listener()
        listener.live = False
        assert await listener.synced() is False
    asyncio.run(scene())
