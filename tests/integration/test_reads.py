"""`ledger.reads.Reads`: the hot look-ups through psycopg itself (issue 17). Its pool
reuses connections, never opens more than its size, sheds a read that waits too long,
drops a connection that failed, runs as the application role and answers what the
SQLAlchemy path answers."""
from __future__ import annotations

import asyncio

import psycopg
import pytest

from ledger import errors, repository
from ledger.reads import Reads

pytestmark = pytest.mark.db


async def backends(database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND application_name = 'pb-reads-test'").fetchone()[0]


def pooled(engine, database_url: str, size: int, timeout_s: float = 5.0, statement_timeout_s: float = 0) -> Reads:
    separator = "&" if "?" in database_url else "?"
    return Reads.pooled(engine, f"{database_url}{separator}application_name=pb-reads-test", size, timeout_s,
                        statement_timeout_s)


async def test_a_pooled_read_answers_as_the_engine_does(engine, database_url, ledger, realm):
    account = await ledger.system_account(realm, "budget", "civic")
    reads = pooled(engine, database_url, 2)
    try:
        assert await repository.account_by_id(reads, account["id"]) == await ledger.account(account["id"])
        assert await repository.account_by_id(reads, account["id"]) == await repository.account_by_id(
            Reads(engine), account["id"])
        assert await reads.row("SELECT current_user AS role, current_setting('TimeZone') AS zone") == {
            "role": "pointsbank_app", "zone": "UTC"}
        assert await repository.account_by_id(reads, -1) is None
    finally:
        await reads.close()


async def test_the_pool_reuses_and_never_exceeds_its_size(engine, database_url):
    reads = pooled(engine, database_url, 3)
    try:
        for _ in range(20):
            await reads.row("SELECT 1 AS one")
        assert await backends(database_url) == 1
        await asyncio.gather(*(reads.row("SELECT true AS slept FROM pg_sleep(0.05)") for _ in range(12)))
        assert await backends(database_url) == 3
    finally:
        await reads.close()
    assert await backends(database_url) == 0


async def test_a_read_that_waits_too_long_for_a_connection_is_shed(engine, database_url):
    reads = pooled(engine, database_url, 1, timeout_s=0.1)
    try:
        slow = asyncio.ensure_future(reads.row("SELECT true AS slept FROM pg_sleep(0.5)"))
        await asyncio.sleep(0.05)
        with pytest.raises(errors.Overloaded):
            await reads.row("SELECT 1 AS one")
        assert await slow == {"slept": True}
        assert await reads.row("SELECT 1 AS one") == {"one": 1}
    finally:
        await reads.close()


async def test_a_failed_connection_is_dropped_and_the_next_read_reconnects(engine, database_url):
    reads = pooled(engine, database_url, 1)
    try:
        pid = (await reads.row("SELECT pg_backend_pid() AS pid"))["pid"]
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(psycopg.OperationalError):
            await reads.row("SELECT 1 AS one")
        again = await reads.row("SELECT pg_backend_pid() AS pid")
        assert again["pid"] != pid
    finally:
        await reads.close()


async def test_a_statement_timeout_is_overloaded_and_the_connection_is_not_reused(engine, database_url):
    reads = pooled(engine, database_url, 1, statement_timeout_s=0.05)
    try:
        pid = (await reads.row("SELECT pg_backend_pid() AS pid"))["pid"]
        with pytest.raises(errors.Overloaded):
            await reads.row("SELECT true AS slept FROM pg_sleep(1)")
        assert (await reads.row("SELECT pg_backend_pid() AS pid"))["pid"] != pid
    finally:
        await reads.close()


async def test_an_unreachable_server_raises_at_once(engine):
    reads = Reads.pooled(engine, "postgresql://nobody@127.0.0.1:1/none", 2, timeout_s=5.0)
    with pytest.raises(psycopg.OperationalError):
        await asyncio.wait_for(reads.row("SELECT 1 AS one"), 3.0)
    await reads.close()
