"""Load shedding without a database or a clock: the group-commit queue's bound, the
token bucket, the 503/429 answers and their Retry-After, the settings that name them."""
import asyncio
import json

import pytest

from api.errors import RETRY_AFTER_S, domain_error_handler
from api.limits import RateLimiter
from api.settings import Settings, SettingsError
from ledger import errors
from ledger.group_commit import GroupCommit
from redemption.service import Vouchers


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def answer(error: errors.DomainError):
    response = domain_error_handler(None, error)  # type: ignore[arg-type]
    return response.status_code, response.headers.get("Retry-After"), response.content


async def test_a_full_group_commit_queue_sheds_at_once_with_503_and_retry_after():
    group = GroupCommit(engine=None, writers=0, queue_depth_max=2)  # nobody drains the queue
    waiting = [asyncio.ensure_future(group.submit({"n": n})) for n in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(errors.Overloaded) as shed:
        await group.submit({"n": 2})
    status, retry_after, body = answer(shed.value)
    assert (status, retry_after, body["code"]) == (503, str(RETRY_AFTER_S), "overloaded")
    assert not any(task.done() for task in waiting)  # the two queued ones still wait their turn
    for task in waiting:
        task.cancel()
    await group.close()


async def test_the_voucher_capture_queue_is_bounded_and_sheds_with_503_too():
    vouchers = Vouchers(None, None, None, capture_writers=1, capture_queue_max=1)  # type: ignore[arg-type]
    capture = vouchers._capture_commit
    assert capture is not None
    capture._writer_count = 0                      # nobody drains the queue in this test
    waiting = asyncio.ensure_future(capture.submit({"n": 0}))
    await asyncio.sleep(0)
    with pytest.raises(errors.Overloaded) as shed:
        await capture.submit({"n": 1})
    status, retry_after, body = answer(shed.value)
    assert (status, retry_after, body["code"]) == (503, str(RETRY_AFTER_S), "overloaded")
    waiting.cancel()
    await vouchers.close()


def test_a_bucket_refuses_past_its_burst_then_recovers_as_time_passes():
    clock = Clock()
    limiter = RateLimiter(rate_per_s=0.5, burst=3, clock=clock)
    for _ in range(3):
        limiter.take("token-1")
    with pytest.raises(errors.RateLimited) as refused:
        limiter.take("token-1")
    assert refused.value.context["retry_after_s"] == 2   # one request back every 2 s
    limiter.take("token-2")                               # another key has its own bucket
    clock.now += 1.0
    with pytest.raises(errors.RateLimited) as still:
        limiter.take("token-1")
    assert still.value.context["retry_after_s"] == 1
    clock.now += 1.0
    limiter.take("token-1")                               # recovered
    with pytest.raises(errors.RateLimited):
        limiter.take("token-1")


def test_a_refusal_is_429_rate_limited_with_its_retry_after():
    limiter = RateLimiter(rate_per_s=0.1, burst=1, clock=Clock())
    limiter.take("a")
    with pytest.raises(errors.RateLimited) as refused:
        limiter.take("a")
    status, retry_after, body = answer(refused.value)
    assert (status, retry_after, body["code"]) == (429, "10", "rate_limited")


def test_buckets_are_bounded_forgetting_the_least_recently_used():
    clock = Clock()
    limiter = RateLimiter(rate_per_s=1, burst=1, keys_max=3, clock=clock)
    for key in ("a", "b", "c", "d"):
        limiter.take(key)
    assert len(limiter) == 3
    limiter.take("a")  # forgotten, so a fresh bucket
    with pytest.raises(errors.RateLimited):
        limiter.take("d")  # remembered: still empty


def test_an_unavailable_database_also_says_when_to_retry():
    status, retry_after, _ = answer(errors.Unavailable("the database connection failed"))
    assert (status, retry_after) == (503, str(RETRY_AFTER_S))


@pytest.mark.parametrize("name, value", [
    ("POINTSBANK_DB_POOL_SIZE", "0"), ("POINTSBANK_DB_POOL_TIMEOUT_S", "soon"),
    ("POINTSBANK_DB_STATEMENT_TIMEOUT_S", "-1"), ("POINTSBANK_GROUP_COMMIT_QUEUE_MAX", "1.5"),
    ("POINTSBANK_RENDER_RATE_PER_S", "0"), ("POINTSBANK_PUBLIC_BURST", "nan"), ("POINTSBANK_PORT", "x"),
])
def test_a_bad_setting_is_one_line_naming_the_variable(name, value):
    with pytest.raises(SettingsError) as bad:
        Settings.from_env({name: value})
    message = str(bad.value)
    assert message.startswith(name) and "\n" not in message and repr(value) in message


def test_the_load_settings_are_read_from_the_environment():
    settings = Settings.from_env({
        "POINTSBANK_DB_POOL_SIZE": "4", "POINTSBANK_DB_POOL_OVERFLOW": "0",
        "POINTSBANK_DB_POOL_TIMEOUT_S": "2.5", "POINTSBANK_DB_STATEMENT_TIMEOUT_S": "10",
        "POINTSBANK_GROUP_COMMIT_QUEUE_MAX": "64", "POINTSBANK_RENDER_RATE_PER_S": "0.5",
        "POINTSBANK_RENDER_BURST": "5", "POINTSBANK_PUBLIC_RATE_PER_S": "3", "POINTSBANK_PUBLIC_BURST": "7"})
    assert (settings.db_pool_size, settings.db_pool_overflow, settings.db_pool_timeout_s,
            settings.db_statement_timeout_s, settings.group_commit_queue_max) == (4, 0, 2.5, 10.0, 64)
    assert (settings.render_rate_per_s, settings.render_burst,
            settings.public_rate_per_s, settings.public_burst) == (0.5, 5, 3.0, 7)
