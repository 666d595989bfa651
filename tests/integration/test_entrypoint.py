"""The image's entrypoint (deploy/entrypoint.sh) as several replicas run it: two start at
once on an empty database; one upgrade migrates while the other waits on the advisory
lock, both succeed, and both then serve /healthz."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg

from migrations.runner import UPGRADE_LOCK_KEY

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"
WAIT_S_MAX = 120.0      # bound on every wait below (a slow shared machine), never a speed claim
POLL_S = 0.2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S_MAX
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(POLL_S)


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def waiting_upgrades(conn: psycopg.Connection) -> int:
    return conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND ((classid::bigint << 32) | objid::bigint) = %s", (UPGRADE_LOCK_KEY,)).fetchone()[0]


def test_two_replicas_start_at_once_one_migrates_the_other_waits(new_database, tmp_path):
    empty_database = new_database()
    replicas = []
    with psycopg.connect(empty_database, autocommit=True) as holder:
        # hold the lock so both replicas are surely inside their upgrade at the same time
        holder.execute("SELECT pg_advisory_lock(%s)", (UPGRADE_LOCK_KEY,))
        try:
            for number in (1, 2):
                port = free_port()
                log = open(tmp_path / f"replica{number}.log", "w+")
                env = {**os.environ, "DATABASE_URL": empty_database, "POINTSBANK_PORT": str(port),
                       "POINTSBANK_DATA_DIR": str(tmp_path / "data"),
                       "POINTSBANK_KEY_DIR": str(tmp_path / "keys"), "POINTSBANK_SEAL_INTERVAL_S": "0",
                       "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
                env.pop("POINTSBANK_DEMO", None)
                process = subprocess.Popen(["sh", str(ENTRYPOINT)], env=env, stdout=log,
                                           stderr=subprocess.STDOUT, start_new_session=True)
                replicas.append((process, port, log))
            wait_for(lambda: waiting_upgrades(holder) == 2, "both upgrades waiting on the lock")
            holder.execute("SELECT pg_advisory_unlock(%s)", (UPGRADE_LOCK_KEY,))
            for process, port, _ in replicas:
                wait_for(lambda: healthy(port) or process.poll() is not None, f"replica on {port} serving")
                assert process.poll() is None, "a replica stopped instead of serving"
            outputs = []
            for _, _, log in replicas:
                log.seek(0)
                outputs.append(log.read())
        finally:
            for process, _, log in replicas:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                log.close()

    assert all("another upgrade is running; waiting for it to finish" in out for out in outputs), outputs
    migrated = [out for out in outputs if "database upgraded from an empty schema to" in out]
    found_done = [out for out in outputs if "database is up to date" in out]
    assert len(migrated) == 1 and len(found_done) == 1, outputs
    assert not any("Traceback" in out for out in outputs), outputs
    with psycopg.connect(empty_database) as conn:
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM realms").fetchone()[0] == 0  # no demo data
