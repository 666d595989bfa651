"""The background jobs run in one process at a time, however many serve the database:
whoever holds the jobs advisory lock (`api.leader`). Two `pointsbank serve` processes, one
of them with two workers; then the leader is killed and another takes over."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from api.background import PeriodicJobs
from api.leader import JOBS_LOCK_KEY, Leadership
from bench.harness import ServedProcess
from migrations.runner import upgrade

LEADING = "leading the background jobs"
WAIT_S = 30.0          # a generous bound for a loaded machine; not a speed assertion
JOB_INTERVAL = "0.2"   # seconds between rounds of the activity-closing job


def _lock_holders(database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                           "AND (classid::bigint << 32 | objid::bigint) = %s "   # advisory locks are per database:
                           "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                           (JOBS_LOCK_KEY,)).fetchone()
        return int(row[0])


def _leading_lines(log: Path) -> int:
    return log.read_text(errors="replace").count(LEADING) if log.exists() else 0


def _wait_until(predicate, timeout_s: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


async def _eventually(check, timeout_s: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.fixture
def own_database(new_database) -> str:
    """A database of this test's own: the session's has the in-process app's leader."""
    url = new_database()
    upgrade(url)
    return url


async def test_one_of_two_leaderships_leads_and_the_other_takes_over(own_database):
    database_url = own_database
    first, second = Leadership(database_url), Leadership(database_url)
    try:
        assert await first.leading()
        assert not await second.leading()
        assert await first.leading()          # keeps it, round after round
        await first.close()
        # the lock goes with the connection, once the server has seen it close
        assert await _eventually(second.leading)
        assert not await first.leading()
    finally:
        await first.close()
        await second.close()


async def test_a_round_runs_only_while_leading():
    rounds: list[int] = []
    leading = [False]

    async def leader() -> bool:
        return leading[0]

    async def job() -> None:
        rounds.append(1)

    jobs = PeriodicJobs(leader)
    jobs.start("counting", 0.01, job)
    await asyncio.sleep(0.2)
    assert rounds == []
    leading[0] = True
    for _ in range(100):
        await asyncio.sleep(0.02)
        if rounds:
            break
    await jobs.stop()
    assert rounds


def test_two_servers_and_two_workers_run_the_jobs_in_one_process(own_database, tmp_path):
    database_url = own_database
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    env = {"POINTSBANK_ACTIVITY_CLOSE_INTERVAL_S": JOB_INTERVAL}
    servers = [ServedProcess(database_url, output=logs[0], POINTSBANK_WORKERS="2",
                             POINTSBANK_DATA_DIR=str(tmp_path / "a"), **env),
               ServedProcess(database_url, output=logs[1], POINTSBANK_DATA_DIR=str(tmp_path / "b"), **env)]
    try:
        for server in servers:
            server.start()
        for server in servers:   # both serve (the two-worker one through either worker)
            assert httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=10).status_code == 200
        assert _wait_until(lambda: sum(map(_leading_lines, logs)) >= 1)
        time.sleep(20 * float(JOB_INTERVAL))    # many rounds: nobody else takes the lock
        assert sum(map(_leading_lines, logs)) == 1
        assert _lock_holders(database_url) == 1
        leader = 0 if _leading_lines(logs[0]) else 1
        servers[leader].kill()                  # SIGKILL: its workers die with it
        other = logs[1 - leader]
        assert _wait_until(lambda: _leading_lines(other) == 1), other.read_text()
        assert _lock_holders(database_url) == 1
    finally:
        for server in servers:
            server.stop()
