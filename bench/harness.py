"""What every benchmark shares: a fresh migrated database, a served app in a subprocess,
a lean keep-alive HTTP load generator, and one way to report figures.

Figures are only compared with a baseline measured in the same run, on the same
PostgreSQL; nothing here asserts a time."""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


from api.database import embedded_server_url, throwaway_database

BENCH_DATA_DIR = Path(os.environ.get("POINTSBANK_BENCH_DATA_DIR", ".pointsbank/bench"))
SERVER_START_TIMEOUT_S = 60.0


@dataclass
class Result:
    name: str
    count: int
    seconds: float
    latencies_s: list[float] = field(default_factory=list)
    unit: str = "ops"
    # quantiles measured elsewhere (wrk's latency distribution), by q: used when there
    # are no latencies of our own
    quantiles_ms: dict[float, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def quantile_ms(self, q: float) -> float | None:
        if len(self.latencies_s) < 2:
            return self.quantiles_ms.get(q)
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def line(self) -> str:
        p50, p99 = self.quantile_ms(0.50), self.quantile_ms(0.99)
        latency = f"  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms" if p50 is not None else ""
        return f"{self.name:<58} {self.rate:10.0f} {self.unit}/s{latency}"


@dataclass
class BenchContext:
    database_url: str
    quick: bool
    # one key ring for the whole run: every served app and in-process service signs with
    # it, so the audit at the end verifies the checkpoints any of them sealed
    key_dir: Path
    results: dict[str, Result] = field(default_factory=dict)

    def scale(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def report(self, key: str, result: Result) -> Result:
        self.results[key] = result
        print(result.line(), flush=True)
        return result

    def ratio(self, label: str, numerator: str, denominator: str, target: float | None = None) -> None:
        a, b = self.results.get(numerator), self.results.get(denominator)
        if not a or not b or not b.rate:
            return
        value = a.rate / b.rate
        verdict = "" if target is None else ("  (target >= %.2f: %s)" % (target, "met" if value >= target else "NOT met"))
        print(f"{label:<58} {value:10.2f}{verdict}", flush=True)


@contextmanager
def fresh_database(server: str | None = None) -> Iterator[str]:
    """A new migrated database on `server` (default: DATABASE_URL's server, or the bench's
    embedded one), dropped afterwards."""
    server = server or os.environ.get("DATABASE_URL") or embedded_server_url(BENCH_DATA_DIR)
    with throwaway_database(server, "pb_bench") as url:
        yield url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServedProcess:
    """`pointsbank serve` in a subprocess on one free port, signing with the keys in
    `key_dir` when given, its log appended to `output` when given; it can be killed (-9)
    and started again on the same port."""

    def __init__(self, database_url: str, key_dir: Path | None = None, output: Path | None = None,
                 **env: str) -> None:
        self.port = free_port()
        keys = {"POINTSBANK_KEY_DIR": str(key_dir)} if key_dir else {}
        self._env = {**os.environ, "DATABASE_URL": database_url, "POINTSBANK_ACCESS_LOG": "0",
                     "POINTSBANK_WORKERS": "1", **keys, **env}
        self._output = output
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "api.cli", "serve", "--port", str(self.port)]
        if self._output is None:
            self.process = subprocess.Popen(command, env=self._env)
        else:
            self._output.parent.mkdir(parents=True, exist_ok=True)
            with self._output.open("ab") as log:
                self.process = subprocess.Popen(command, env=self._env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("the server did not start")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye to the database."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def served_app(database_url: str, key_dir: Path | None = None, **env: str) -> Iterator[int]:
    """`pointsbank serve` in a subprocess on a free port (signing with the keys in
    `key_dir` when given); yields the port."""
    served = ServedProcess(database_url, key_dir, **env)
    served.start()
    try:
        yield served.port
    finally:
        served.stop()


async def http_load(port: int, request: Callable[[int], bytes], total: int,
                    concurrency: int, rate: float | None = None) -> tuple[Result, Counter[int]]:
    """Send `total` requests over `concurrency` keep-alive connections, as fast as they
    answer or (with `rate`) paced at that many per second; latency per request (from its
    scheduled time, so queueing counts), and a count of response statuses."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    next_index = iter(range(total))
    begun = time.perf_counter()

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for index in next_index:
                started = time.perf_counter()
                if rate is not None:
                    started = begun + index / rate
                    await asyncio.sleep(max(0.0, started - time.perf_counter()))
                writer.write(request(index))
                status = await _read_response(reader)
                latencies.append(time.perf_counter() - started)
                statuses[status] += 1
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - begun
    return Result("", total, elapsed, latencies), statuses


WRK_THREADS = 2
WRK_OUTPUT_LINES_SHOWN = 12


def wrk_installed() -> bool:
    return shutil.which("wrk") is not None


def wrk_load(port: int, script: str, seconds: int, connections: int) -> tuple[Result, int]:
    """`wrk` (C; Debian's package `wrk`) on `connections` keep-alive connections for
    `seconds`, its requests made by the Lua `script` (see `LUA_COMMON`): a load generator
    that takes far less of the machine's CPU than `http_load`, so what is measured is the
    server, as pgbench measures the database. The rate, p50/p99, and the count of answers
    that were not 2xx or 3xx."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(LUA_COMMON + script)
        lua.flush()
        answer = subprocess.run(
            ["wrk", "-t", str(WRK_THREADS), "-c", str(connections), "-d", f"{seconds}s", "--latency",
             "-s", lua.name, f"http://127.0.0.1:{port}/"], capture_output=True, text=True, timeout=seconds + 60)
    done = re.search(r"(\d+) requests in ([\d.]+)(m?s)", answer.stdout)
    if answer.returncode != 0 or done is None:
        raise RuntimeError(f"wrk failed: {(answer.stderr or answer.stdout)[-500:]}")
    elapsed = float(done.group(2)) * (60 if done.group(3) == "m" else 1)
    quantiles = {q / 100: _milliseconds(value, unit) for q, value, unit in
                 ((int(m[0]), float(m[1]), m[2]) for m in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$",
                                                                     answer.stdout, re.M))}
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", answer.stdout)
    errors = re.search(r"Socket errors: (.*)", answer.stdout)
    if errors:
        print(f"   wrk: socket errors {errors.group(1)}")
    return (Result("", int(done.group(1)), elapsed, quantiles_ms=quantiles),
            int(refused.group(1)) if refused else 0)


def _milliseconds(value: float, unit: str) -> float:
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


# Every wrk script's preamble: each thread gets its number (`thread_number`, from 1) and
# a seeded generator; `next_key()` is an Idempotency-Key no other request of the run uses.
LUA_COMMON = """
local threads_made = 0
function setup(thread)
  threads_made = threads_made + 1
  thread:set("thread_number", threads_made)
end
local made = 0
function init(args)
  math.randomseed(thread_number * 7919)
end
function next_key(prefix)
  made = made + 1
  return string.format("%s-%d-%d", prefix, thread_number, made)
end
"""


OUTBOX_DRAIN_WAIT_S_MAX = 120.0


def wait_for_outbox(database_url: str, wait_s_max: float = OUTBOX_DRAIN_WAIT_S_MAX) -> int:
    """Wait while a served app's outbox dispatcher works off the events a setup wrote
    (thousands at once, where serving makes a second's worth per round): a measure
    should see the steady state, not that backlog. Answers the events left."""
    import psycopg

    deadline = time.monotonic() + wait_s_max
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            left = conn.execute("SELECT count(*) FROM events WHERE dispatched_at IS NULL").fetchone()[0]
            if left == 0 or time.monotonic() > deadline:
                return left
            time.sleep(0.5)


def http_request(method: str, path: str, body: bytes = b"", **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: bench"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def timed(name: str, total: int, concurrency: int,
                work: Callable[[int], Awaitable[object]], unit: str = "ops") -> Result:
    """Run `work(i)` for i in range(total) on `concurrency` tasks; time each call."""
    latencies: list[float] = []
    next_index = iter(range(total))

    async def worker() -> None:
        for index in next_index:
            started = time.perf_counter()
            await work(index)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(name, total, time.perf_counter() - started, latencies, unit)
