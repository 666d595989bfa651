"""The bank under faults: a real `pointsbank serve` on a real PostgreSQL, 32 clients and a
fault injector, then a reconciliation of what the clients were told against the book.

Clients (httpx, async) run a random mix for a bounded time: attendance, funding, vouchers
issued, redemptions (full, partial, and the same code from two merchants at once),
cancels, expiries, settlements, adjustments and their reversals. Every write carries an
Idempotency-Key; a timeout, a lost connection, a 5xx or a 429 is retried with the same
key (bounded). Each acknowledged operation is written down (the client-side history).

Faults at random: the service's database connections terminated, the service killed
(-9) and started again, PostgreSQL stopped and started (only on the embedded server this
run owns; on a DATABASE_URL server that fault is skipped, and the summary says so), a
request cut off in the middle of its body (then sent whole with the same key), and
duplicate submissions (the same request twice at once).

At the end: `pointsbank audit` passes; every acknowledged effect is in the book exactly
once; no voucher was both captured and released; no balance is below its floor; the
realm's balances add up to what was funded. Anything else is an anomaly.

    python -m tests.chaos.bank --minutes 10       # `make chaos`
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import psycopg

from api.database import embedded_server
from bench.harness import ServedProcess, fresh_database

CHAOS_DATA_DIR = Path(os.environ.get("POINTSBANK_CHAOS_DATA_DIR", ".pointsbank/chaos"))
CLIENTS = 32
RESIDENTS = 48
MERCHANTS = 6
VOLUNTEERS = 3             # of the residents, approved volunteers (and never requesters)
REALM = "431000"
FAULT_PAUSE_S = (1.0, 4.0)          # between two faults, uniformly
PG_DOWN_S = (0.5, 3.0)              # how long PostgreSQL stays stopped
DUPLICATE_SHARE = 0.05              # writes sent twice at once
REQUEST_TIMEOUT_S = 10.0
RETRY_PAUSE_S_MAX = 2.0
GIVE_UP_AFTER_S = 120.0             # past the end of the run, a client stops retrying
EXPIRY_SWEEP_EVERY_S = 20.0
SETUP_WAIT_S = 60.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# a twin with the same key still running
RETRY_CODES = frozenset({"voucher_idempotency_raced", "booking_idempotency_raced"})
WEIGHTS = {"attend": 4, "issue": 5, "redeem": 2, "partial": 1, "race": 1, "cancel": 2, "expire": 1,
           "settle": 1, "fund": 1, "reverse": 1, "serve": 1, "reserve": 2}
PRIORITY_PRICE = 10                 # a priority reservation's points (held, then captured or released)
RESERVATION_SLOTS = 3
SLOT_STARTS_IN = timedelta(minutes=90)   # bookable and markable (attended) for the whole run
WARM_UP_ATTENDANCE = 3      # rounds of attendance for every resident before the clients start
WARM_UP_VOUCHERS = 40       # vouchers issued before the clients start


@dataclass
class Tally:
    """What the run did and saw, for the summary."""
    acked: Counter[str] = field(default_factory=Counter)        # acknowledged operations by kind
    refused: Counter[str] = field(default_factory=Counter)      # refusals by code
    retries: Counter[str] = field(default_factory=Counter)      # retried attempts by reason
    faults: Counter[str] = field(default_factory=Counter)
    unknown: Counter[str] = field(default_factory=Counter)      # never answered (gave up)
    anomalies: list[str] = field(default_factory=list)
    seconds: float = 0.0                                        # how long the clients ran

    def anomaly(self, text: str) -> None:
        self.anomalies.append(text)
        print(f"ANOMALY: {text}", flush=True)


@dataclass
class Voucher:
    id: int
    code: str
    amount: int
    resident: int            # index into World.residents


@dataclass
class History:
    """Every acknowledged effect, as the clients were told it."""
    fundings: dict[int, int] = field(default_factory=dict)            # entry id: points
    unknown_funding_points: int = 0
    awards: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)  # (activity, resident): (entry, points)
    vouchers: dict[int, Voucher] = field(default_factory=dict)
    captures: dict[int, list[dict[str, Any]]] = field(default_factory=dict)       # voucher id: redemptions
    cancelled: set[int] = field(default_factory=set)
    expired: set[int] = field(default_factory=set)                     # forced past expiry
    settlements: dict[int, dict[str, Any]] = field(default_factory=dict)
    adjustments: dict[int, int] = field(default_factory=dict)          # entry id: its reversal (0: none yet)
    service_awards: dict[int, set[tuple[str, int, int]]] = field(default_factory=dict)  # request: (kind, resident, points)
    pool: list[Voucher] = field(default_factory=list)                  # issued, not yet touched
    reservations: dict[int, set[str]] = field(default_factory=dict)    # id: the closing statuses acknowledged


@dataclass
class World:
    admin: dict[str, str]
    organizer: dict[str, str]
    station_id: int
    residents: list[tuple[int, dict[str, str]]]          # (resident id, bearer header)
    merchants: list[tuple[int, dict[str, str]]]
    provider: dict[str, str] = field(default_factory=dict)    # a service_provider merchant's bearer header
    slots: list[int] = field(default_factory=list)            # its priority-priced slots
    activity_type: str = "chaos_drill"
    volunteers: list[tuple[int, dict[str, str]]] = field(default_factory=list)   # approved, never requesters


@dataclass
class Answer:
    status: int
    body: Any
    retry_after_s: float = 0.0     # what a 429 or 503 asked for

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def code(self) -> str:
        return self.body.get("code", str(self.status)) if isinstance(self.body, dict) else str(self.status)


class Bank:
    """One run: the served app, its database, the clients' history and the tally."""

    def __init__(self, database_url: str, pg: Any | None, seconds: float, seed: int,
                 key_dir: Path, data_dir: Path) -> None:
        self.database_url = database_url
        self.pg = pg                      # the embedded server (stoppable), or None
        self.seconds = seconds
        self.random = random.Random(seed)
        self.key_dir = key_dir
        self.tally = Tally()
        self.history = History()
        self.served = ServedProcess(database_url, key_dir, output=data_dir / "serve.log",
                                    POINTSBANK_DATA_DIR=str(data_dir),
                                    POINTSBANK_SEAL_INTERVAL_S="5", POINTSBANK_DB_POOL_TIMEOUT_S="3")
        self.http: httpx.AsyncClient
        self.world: World
        self.deadline = 0.0
        self._every_fault_once = asyncio.Event()
        self._keys = iter(range(1, 10**9))

    # the HTTP client ---------------------------------------------------------------------

    def new_key(self, kind: str) -> str:
        return f"chaos-{kind}-{next(self._keys)}-{uuid.uuid4().hex[:8]}"

    async def call(self, method: str, path: str, headers: dict[str, str], body: Any = None,
                   key: str | None = None, kind: str = "") -> Answer | None:
        """Send until answered (2xx or a refusal); retry timeouts, lost connections, 5xx,
        429 with the same key. None: gave up (the effect is unknown)."""
        headers = {**headers, "Idempotency-Key": key} if key else dict(headers)
        pause = 0.05
        first = True
        while time.monotonic() < self.deadline + GIVE_UP_AFTER_S:
            if first and key and method == "POST" and self.random.random() < DUPLICATE_SHARE:
                answer = await self._twice(method, path, headers, body)
            else:
                answer = await self._once(method, path, headers, body)
            first = False
            if answer is not None and answer.status not in RETRY_STATUSES and answer.code not in RETRY_CODES:
                return answer
            reason = "timeout or connection" if answer is None else f"{answer.status} {answer.code}"
            self.tally.retries[reason] += 1
            wait = min(answer.retry_after_s, RETRY_PAUSE_S_MAX) if answer and answer.retry_after_s else pause
            await asyncio.sleep(wait * (0.5 + self.random.random()))
            pause = min(pause * 2, RETRY_PAUSE_S_MAX)
        self.tally.unknown[kind or path] += 1
        return None

    async def _once(self, method: str, path: str, headers: dict[str, str], body: Any) -> Answer | None:
        try:
            response = await self.http.request(method, path, headers=headers, json=body)
        except httpx.HTTPError:
            return None
        try:
            parsed = response.json()
        except ValueError:
            parsed = response.text
        retry_after = response.headers.get("Retry-After", "")
        return Answer(response.status_code, parsed, float(retry_after) if retry_after.isdigit() else 0.0)

    async def _twice(self, method: str, path: str, headers: dict[str, str], body: Any) -> Answer | None:
        """The same request twice at once: both answers must tell the same story."""
        self.tally.faults["duplicate submission"] += 1
        one, two = await asyncio.gather(self._once(method, path, headers, body),
                                        self._once(method, path, headers, body))
        if one is not None and two is not None and one.ok and two.ok and _identity(one.body) != _identity(two.body):
            self.tally.anomaly(f"duplicate {method} {path} answered two different effects: "
                               f"{_identity(one.body)} and {_identity(two.body)}")
        answered = [a for a in (one, two) if a is not None]
        return next((a for a in answered if a.ok), answered[0] if answered else None)

    # setup -------------------------------------------------------------------------------

    async def setup(self) -> None:
        from api.auth import create_token
        from ledger import db

        engine = db.app_engine(self.database_url, pool_size=2)
        try:
            admin = _bearer(await create_token(engine, "admin", None, label="chaos"))
            await self._must("POST", "/v1/realms", admin, {"code": REALM, "name": "混沌演练区"})
            town = await self._must("POST", "/v1/towns", admin, {"realm": REALM, "name": "演练镇"})
            station = await self._must("POST", "/v1/stations", admin, {
                "realm": REALM, "town_id": town["id"], "name": "演练站", "setting": "rural"})
            await self._must("POST", "/v1/activity-types", admin, {
                "realm": REALM, "code": "chaos_drill", "name": "演练",
                "rule": {"base_points": 20, "points_per_hour": 5, "daily_cap_points": 100_000}})
            await self._must("PUT", f"/v1/realms/{REALM}/voucher-policy", admin,
                             {"lifetime_days": 30, "outstanding_max": 1000})
            await self._must("PUT", f"/v1/realms/{REALM}/settlement-rate", admin, {"fen_per_point": 10})
            residents = []
            for number in range(RESIDENTS):
                made = await self._must("POST", "/v1/residents", admin, {
                    "realm": REALM, "station_id": station["id"], "code": f"C{number:04d}"})
                token = await create_token(engine, "resident", REALM, resident_id=made["id"])
                residents.append((made["id"], _bearer(token)))
            merchants = []
            for number in range(MERCHANTS):
                made = await self._must("POST", "/v1/merchants", admin,
                                        {"realm": REALM, "kind": "general", "name": f"演练商店{number}"})
                token = await create_token(engine, "merchant", REALM, merchant_id=made["id"])
                merchants.append((made["id"], _bearer(token)))
            organizer = _bearer(await create_token(engine, "organizer", REALM))
            volunteers = residents[-VOLUNTEERS:]
            for resident_id, headers in volunteers:
                await self._must("POST", "/v1/volunteers", {**headers, "Idempotency-Key": f"apply-{resident_id}"},
                                 {"skills": ["助老"], "station_ids": [station["id"]]})
                await self._must("POST", f"/v1/volunteers/{resident_id}/decision",
                                 {**organizer, "Idempotency-Key": f"approve-{resident_id}"}, {"approve": True})
            provider, slots = await self._offer_resource(engine, admin, station["id"])
        finally:
            await engine.dispose()
        self.world = World(admin, organizer, station["id"], residents[:-VOLUNTEERS], merchants, provider, slots,
                           volunteers=volunteers)

    async def _offer_resource(self, engine: Any, admin: dict[str, str],
                              station_id: int) -> tuple[dict[str, str], list[int]]:
        """A service_provider with a priority-priced health check and a few big slots."""
        from api.auth import create_token

        keyed = {**admin, "Idempotency-Key": self.new_key("offer")}   # (one key per path: each is its own)
        hospital = await self._must("POST", "/v1/merchants", admin,
                                    {"realm": REALM, "kind": "service_provider", "name": "演练卫生院"})
        provider = await self._must("POST", "/v1/resource-providers", keyed,
                                    {"realm": REALM, "name": "演练卫生院", "merchant_id": hospital["id"]})
        offered = await self._must("POST", "/v1/resources", keyed, {
            "provider_id": provider["id"], "kind": "health", "title": "演练体检", "scope": "realm",
            "station_id": station_id, "priority_price": PRIORITY_PRICE, "cancel_cutoff_h": 0})
        first = datetime.now(timezone.utc).replace(microsecond=0) + SLOT_STARTS_IN
        slots = [await self._must("POST", f"/v1/resources/{offered['id']}/slots", keyed, {
            "starts_at": (first + timedelta(minutes=n)).isoformat(),
            "ends_at": (first + timedelta(minutes=n + 60)).isoformat(), "capacity": 1000})
            for n in range(RESERVATION_SLOTS)]
        token = await create_token(engine, "merchant", REALM, merchant_id=hospital["id"])
        return _bearer(token), [slot["id"] for slot in slots]

    async def _must(self, method: str, path: str, headers: dict[str, str], body: Any) -> Any:
        for _ in range(int(SETUP_WAIT_S * 10)):
            answer = await self._once(method, path, headers, body)
            if answer is not None and answer.ok:
                return answer.body
            if answer is not None and answer.status < 500:
                raise RuntimeError(f"setup {method} {path}: {answer.status} {answer.body}")
            await asyncio.sleep(0.1)
        raise RuntimeError(f"setup {method} {path}: no answer")

    # operations (each one client step) ----------------------------------------------------

    async def op_fund(self, key: str | None = None) -> None:
        points = self.random.randint(500, 2000)
        answer = await self.call("POST", "/v1/budgets/funding", self.world.admin,
                                 {"realm": REALM, "asset": "civic", "amount": points},
                                 key or self.new_key("fund"), "fund")
        if answer is None:
            self.history.unknown_funding_points += points
        elif self._outcome("fund", answer):
            self.history.fundings[answer.body["id"]] = points

    async def op_attend(self, everyone: bool = False) -> None:
        starts = datetime.now(timezone.utc) - timedelta(hours=4)
        activity = await self.call("POST", "/v1/activities", self.world.organizer, {
            "realm": REALM, "activity_type": self.world.activity_type, "station_id": self.world.station_id,
            "title": "演练活动", "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=3)).isoformat()},
            kind="activity")
        if activity is None or not self._outcome("activity", activity, count=False):
            return
        chosen = self.world.residents if everyone else self.random.sample(self.world.residents, self.random.randint(1, 8))
        records = [{"resident_id": resident_id, "minutes": self.random.randint(30, 180)} for resident_id, _ in chosen]
        answer = await self.call("POST", f"/v1/activities/{activity.body['id']}/attendance", self.world.organizer,
                                 {"records": records}, self.new_key("attend"), "attend")
        if answer is None or not self._outcome("attend", answer):
            return
        for record, result in zip(records, answer.body["results"], strict=True):
            if "error" in result:
                self.tally.refused[f"attend:{result['error']}"] += 1
                continue
            place = (activity.body["id"], record["resident_id"])
            if place in self.history.awards:
                self.tally.anomaly(f"resident {place[1]} awarded twice for activity {place[0]}")
            self.history.awards[place] = (result["entry_id"], result["points"])

    async def op_issue(self) -> None:
        resident = self.random.randrange(len(self.world.residents))
        amount = self.random.randint(5, 60)
        answer = await self.call("POST", "/v1/vouchers", self.world.residents[resident][1],
                                 {"asset": "civic", "amount": amount}, self.new_key("issue"), "issue")
        if answer is None or not self._outcome("issue", answer):
            return
        voucher = Voucher(answer.body["id"], answer.body["code"], amount, resident)
        if voucher.id in self.history.vouchers:
            self.tally.anomaly(f"two issues answered the same voucher {voucher.id}")
        self.history.vouchers[voucher.id] = voucher
        self.history.pool.append(voucher)

    def _take_voucher(self) -> Voucher | None:
        pool = self.history.pool
        return pool.pop(self.random.randrange(len(pool))) if pool else None

    async def op_redeem(self, partial: bool = False) -> None:
        voucher = self._take_voucher()
        if voucher is None:
            return await self.op_issue()
        amount = self.random.randint(1, voucher.amount - 1) if partial else None
        await self._redeem(voucher, self.random.choice(self.world.merchants), amount)

    async def op_partial(self) -> None:
        await self.op_redeem(partial=True)

    async def op_race(self) -> None:
        """The same code at two merchants at once: one capture, one refusal."""
        voucher = self._take_voucher()
        if voucher is None:
            return await self.op_issue()
        first, second = self.random.sample(self.world.merchants, 2)
        await asyncio.gather(self._redeem(voucher, first, None), self._redeem(voucher, second, None))
        if len(self.history.captures.get(voucher.id, [])) > 1:
            self.tally.anomaly(f"voucher {voucher.id} captured by two merchants")
        self.tally.acked["race (two merchants, one code)"] += 1

    async def _redeem(self, voucher: Voucher, merchant: tuple[int, dict[str, str]], amount: int | None) -> None:
        body = {"code": voucher.code} | ({"amount": amount} if amount else {})
        answer = await self.call("POST", "/v1/redemptions", merchant[1], body, self.new_key("redeem"), "redeem")
        kind = "partial capture" if amount else "redeem"
        if answer is not None and self._outcome(kind, answer):
            captured = {"id": answer.body["id"], "amount": answer.body["amount"], "merchant_id": merchant[0],
                        "entry_id": answer.body["entry_id"]}
            self.history.captures.setdefault(voucher.id, []).append(captured)
            if captured["amount"] != (amount or voucher.amount):
                self.tally.anomaly(f"voucher {voucher.id} captured {captured['amount']}, asked {amount or voucher.amount}")

    async def op_cancel(self) -> None:
        voucher = self._take_voucher()
        if voucher is None:
            return await self.op_issue()
        answer = await self.call("POST", f"/v1/vouchers/{voucher.id}/cancel", self.world.residents[voucher.resident][1],
                                 None, self.new_key("cancel"), "cancel")
        if answer is not None and self._outcome("cancel", answer):
            self.history.cancelled.add(voucher.id)

    async def op_expire(self) -> None:
        """Move a voucher's expiry into the past; the sweeps (the service's and
        `pointsbank vouchers expire`) must release it exactly once."""
        voucher = self._take_voucher()
        if voucher is None:
            return await self.op_issue()
        try:
            await asyncio.to_thread(self._move_expiry, voucher.id)
        except psycopg.Error:
            self.history.pool.append(voucher)   # the database is down just now; another time
            return
        self.history.expired.add(voucher.id)
        self.tally.acked["expire (forced)"] += 1

    async def op_reserve(self) -> None:
        """A priority booking, then its resident's cancel racing the provider's attended
        mark: one of them closes it (one capture or one release), the other is refused."""
        resident = self.random.randrange(len(self.world.residents))
        answer = await self.call("POST", "/v1/reservations", self.world.residents[resident][1],
                                 {"slot_id": self.random.choice(self.world.slots), "priority": True},
                                 self.new_key("reserve"), "reserve")
        if answer is None or not self._outcome("reserve", answer):
            return
        reservation_id = answer.body["id"]
        if reservation_id in self.history.reservations:
            self.tally.anomaly(f"two bookings answered the same reservation {reservation_id}")
        closed = self.history.reservations.setdefault(reservation_id, set())
        cancel, attended = await asyncio.gather(
            self.call("POST", f"/v1/reservations/{reservation_id}/cancel", self.world.residents[resident][1],
                      None, self.new_key("unreserve"), "unreserve"),
            self.call("POST", f"/v1/reservations/{reservation_id}/attended", self.world.provider,
                      None, self.new_key("attended"), "attended"))
        for kind, closing in (("unreserve", cancel), ("attended", attended)):
            if closing is not None and self._outcome(kind, closing):
                closed.add(closing.body["status"])
        if len(closed) > 1:
            self.tally.anomaly(f"reservation {reservation_id} acknowledged as both {sorted(closed)}")

    async def op_settle(self) -> None:
        merchant_id, _ = self.random.choice(self.world.merchants)
        cut_off = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        answer = await self.call("POST", "/v1/settlements", self.world.admin,
                                 {"realm": REALM, "merchant_id": merchant_id, "to": cut_off},
                                 self.new_key("settle"), "settle")
        if answer is not None and self._outcome("settle", answer):
            self.history.settlements[answer.body["id"]] = answer.body

    async def op_reverse(self) -> None:
        (one, _), (two, _) = self.random.sample(self.world.residents, 2)
        accounts = [await self._civic_account(resident) for resident in (one, two)]
        if None in accounts:
            return
        points = self.random.randint(1, 5)
        answer = await self.call("POST", "/v1/entries", self.world.admin, {
            "realm": REALM, "kind": "adjustment", "memo": "演练更正",
            "postings": [{"account_id": accounts[0], "amount": -points}, {"account_id": accounts[1], "amount": points}]},
            self.new_key("adjust"), "adjust")
        if answer is None or not self._outcome("adjustment", answer):
            return
        entry_id = answer.body["id"]
        self.history.adjustments[entry_id] = 0
        reversal = await self.call("POST", f"/v1/entries/{entry_id}/reversal", self.world.admin, None,
                                   self.new_key("reverse"), "reverse")
        if reversal is not None and self._outcome("reversal", reversal):
            self.history.adjustments[entry_id] = reversal.body["id"]

    async def op_serve(self) -> None:
        """The service loop, every step retried under its key: a resident orders, the
        organizer dispatches to a volunteer, who accepts and marks done; the resident
        confirms with a rating. What the confirmation paid is remembered."""
        requester_id, requester = self.random.choice(self.world.residents)
        volunteer_id, volunteer = self.random.choice(self.world.volunteers)
        starts = datetime.now(timezone.utc)
        made = await self.call("POST", "/v1/service-requests", requester, {
            "category": "助老", "description": "演练点单", "wanted_from": starts.isoformat(),
            "wanted_until": (starts + timedelta(hours=2)).isoformat()}, self.new_key("order"), "serve")
        if made is None or not self._outcome("order", made, count=False):
            return
        path = f"/v1/service-requests/{made.body['id']}/"
        steps = (("dispatch", self.world.organizer, {"volunteer_id": volunteer_id}), ("accept", volunteer, {}),
                 ("done", volunteer, {"minutes": self.random.randint(30, 120)}),
                 ("confirm", requester, {"rating": self.random.randint(1, 5)}))
        for step, headers, body in steps:
            answer = await self.call("POST", path + step, headers, body, self.new_key(step), "serve")
            if answer is None or not self._outcome(f"serve:{step}", answer, count=step == "confirm"):
                return
        paid = {(a["kind"], a["resident_id"], a["points"]) for a in answer.body["awards"]}
        capped = answer.body["volunteer_points"] == 0      # the 志愿 rule's daily cap was reached
        if {kind for kind, _, _ in paid} != ({"rating"} if capped else {"volunteer", "rating"}):
            self.tally.anomaly(f"service request {made.body['id']} confirmed, paid {paid}")
        self.history.service_awards[made.body["id"]] = paid

    async def _civic_account(self, resident_id: int) -> int | None:
        answer = await self.call("GET", f"/v1/residents/{resident_id}", self.world.admin, kind="read")
        if answer is None or not answer.ok:
            return None
        return next(a["id"] for a in answer.body["accounts"] if a["asset"] == "civic")

    def _outcome(self, kind: str, answer: Answer, count: bool = True) -> bool:
        if answer.ok:
            if count:
                self.tally.acked[kind] += 1
            return True
        self.tally.refused[f"{kind}:{answer.code}"] += 1
        if answer.code in ("idempotency_key_reused", "internal_error") or answer.status in (400, 401, 403):
            self.tally.anomaly(f"{kind}: {answer.status} {answer.body}")
        return False

    async def client(self, number: int) -> None:
        """Client `number` starts with one kind in turn (so every kind runs early, even in
        a short run), then picks at random by weight."""
        kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
        kind = kinds[number % len(kinds)]
        while self.running():
            await getattr(self, f"op_{kind}")()
            kind = self.random.choices(kinds, weights)[0]

    async def warm_up(self) -> None:
        """Budget, points for every resident and some vouchers, before any fault."""
        for _ in range(4):
            await self.op_fund()
        for _ in range(WARM_UP_ATTENDANCE):
            await self.op_attend(everyone=True)
        await asyncio.gather(*(self.op_issue() for _ in range(WARM_UP_VOUCHERS)))

    # faults ------------------------------------------------------------------------------

    def running(self) -> bool:
        """The clients run until the deadline, and at least until every fault kind struck
        once (a slow machine stretches a short run rather than skip a kind)."""
        return time.monotonic() < self.deadline or not self._every_fault_once.is_set()

    async def faults(self) -> None:
        """One fault every few seconds; every kind in turn, in a shuffled order each round."""
        kinds = ["kill backends", "kill service", "cut request"] + (["restart postgres"] if self.pg else [])
        next_sweep = time.monotonic() + EXPIRY_SWEEP_EVERY_S
        while True:
            self.random.shuffle(kinds)
            for kind in kinds:
                await asyncio.sleep(self.random.uniform(*FAULT_PAUSE_S))
                if not self.running():
                    return
                if time.monotonic() >= next_sweep:
                    await self.expiry_sweep()
                    next_sweep = time.monotonic() + EXPIRY_SWEEP_EVERY_S
                await getattr(self, "fault_" + kind.replace(" ", "_"))()
                self.tally.faults[kind] += 1
            self._every_fault_once.set()

    async def fault_kill_backends(self) -> None:
        killed = await asyncio.to_thread(self._owner_execute, (
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"))
        self.tally.faults["backend terminated"] += killed or 0

    async def fault_kill_service(self) -> None:
        await asyncio.to_thread(self.served.kill)
        await asyncio.sleep(self.random.uniform(0.0, 1.0))
        await asyncio.to_thread(self.served.start)

    async def fault_restart_postgres(self) -> None:
        from pgserver._commands import pg_ctl

        mode = self.random.choice(["fast", "immediate"])   # immediate: a crash, recovery on start
        await asyncio.to_thread(pg_ctl, ["-w", "-m", mode, "stop"], pgdata=self.pg.pgdata, user=self.pg.system_user)
        await asyncio.sleep(self.random.uniform(*PG_DOWN_S))
        await asyncio.to_thread(self.pg.ensure_postgres_running)

    async def fault_cut_request(self) -> None:
        """A funding POST cut off after half its body; then the whole one, same key."""
        key = self.new_key("fund")
        body = b'{"realm": "%s", "asset": "civic", "amount": 777}' % REALM.encode()
        head = (f"POST /v1/budgets/funding HTTP/1.1\r\nHost: chaos\r\nContent-Type: application/json\r\n"
                f"Authorization: {self.world.admin['Authorization']}\r\nIdempotency-Key: {key}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        await asyncio.to_thread(_send_cut, self.served.port, head + body[: len(body) // 2])
        await self.op_fund(key)

    async def expiry_sweep(self) -> None:
        result = await asyncio.to_thread(self._cli, "vouchers", "expire")
        self.tally.acked["expiry sweep"] += 1
        if result.returncode not in (0, 3):   # 3: the database was away just then
            self.tally.anomaly(f"pointsbank vouchers expire exited {result.returncode}: {result.stderr[-500:]}")

    # running -----------------------------------------------------------------------------

    async def run(self) -> Tally:
        self.served.start()
        try:
            limits = httpx.Limits(max_connections=CLIENTS * 3, max_keepalive_connections=CLIENTS * 2)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.served.port}",
                                         timeout=REQUEST_TIMEOUT_S, limits=limits) as self.http:
                self.deadline = time.monotonic() + SETUP_WAIT_S
                await self.setup()
                await self.warm_up()
                self.deadline = time.monotonic() + self.seconds
                progress = asyncio.create_task(self._progress())
                started = time.monotonic()
                await asyncio.gather(self.faults(), *(self.client(number) for number in range(CLIENTS)))
                self.tally.seconds = time.monotonic() - started
                progress.cancel()
                await self.quiesce()
        finally:
            self.served.stop()
        await asyncio.to_thread(self.verify)
        return self.tally

    async def quiesce(self) -> None:
        """The service and database up, the sweep done, so the book can be read."""
        if self.served.process is None or self.served.process.poll() is not None:
            self.served.start()
        await self.expiry_sweep()

    async def _progress(self) -> None:
        started = time.monotonic()
        while True:
            await asyncio.sleep(15)
            print(f"[{time.monotonic() - started:5.0f} s] acknowledged {sum(self.tally.acked.values())}, "
                  f"retries {sum(self.tally.retries.values())}, faults {sum(self.tally.faults.values())}, "
                  f"anomalies {len(self.tally.anomalies)}", flush=True)

    # the book against the history --------------------------------------------------------

    def verify(self) -> None:
        from tests.chaos.checks import check_book

        sealed = self._cli("checkpoint", "--realm", REALM)
        if sealed.returncode != 0:
            self.tally.anomaly(f"pointsbank checkpoint exited {sealed.returncode}: {sealed.stderr[-500:]}")
        audit = self._cli("audit", "--realm", REALM)
        if audit.returncode != 0:
            self.tally.anomaly(f"pointsbank audit exited {audit.returncode}: {(audit.stdout + audit.stderr)[-1500:]}")
        with psycopg.connect(self.database_url) as conn:
            for problem in check_book(conn, REALM, self.history, self.tally.unknown):
                self.tally.anomaly(problem)

    def _owner_execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        with psycopg.connect(self.database_url, autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(sql, params)
            row = cursor.fetchone() if cursor.description else None
        return row[0] if row else None

    def _move_expiry(self, voucher_id: int) -> None:
        """As the owner, with the triggers off for this one write (an expiry is immutable)."""
        with psycopg.connect(self.database_url, connect_timeout=5) as conn:
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute("UPDATE vouchers SET expires_at = now() - interval '1 second' WHERE id = %s", (voucher_id,))

    def _cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DATABASE_URL": self.database_url, "POINTSBANK_KEY_DIR": str(self.key_dir)}
        return subprocess.run([sys.executable, "-m", "api.cli", *args], env=env, capture_output=True,
                              text=True, timeout=300)


def _identity(body: Any) -> Any:
    if not isinstance(body, dict):
        return body
    return tuple(body.get(name) for name in ("id", "entry_id", "voucher_id", "activity_id", "status"))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _send_cut(port: int, partial: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(partial)


@contextmanager
def bank_database() -> Iterator[tuple[str, Any | None]]:
    """A fresh migrated database: on DATABASE_URL's server, or on an embedded server of
    this run's own (so it may be stopped and started); with that server, or None."""
    if os.environ.get("DATABASE_URL"):
        with fresh_database() as url:
            yield url, None
        return
    server = embedded_server(CHAOS_DATA_DIR)
    with fresh_database(server.get_uri()) as url:
        yield url, server


def summary(tally: Tally, on_server: bool) -> str:
    def block(title: str, counts: Counter[str]) -> list[str]:
        lines = [f"{title}: {sum(counts.values())}"]
        lines += [f"  {name:<48} {count:>8}" for name, count in sorted(counts.items(), key=lambda kv: -kv[1])]
        return lines

    lines = [f"chaos bank: {CLIENTS} clients for {tally.seconds:.0f} s"]
    lines += block("acknowledged operations", tally.acked)
    lines += block("refusals (answered, no effect)", tally.refused)
    lines += block("retries", tally.retries)
    lines += block("faults", tally.faults)
    if on_server:
        lines.append("  (PostgreSQL stop/start skipped: DATABASE_URL names a server this run does not own)")
    lines += block("operations never answered (effect unknown)", tally.unknown)
    lines.append(f"anomalies: {len(tally.anomalies)}")
    lines += [f"  {text}" for text in tally.anomalies[:50]]
    return "\n".join(lines)


async def run_bank(seconds: float, seed: int | None = None) -> Tally:
    seed = seed if seed is not None else random.randrange(10**9)
    print(f"chaos bank: seed {seed}", flush=True)
    with bank_database() as (url, server):
        run_dir = CHAOS_DATA_DIR / f"run-{uuid.uuid4().hex[:8]}"
        key_dir = run_dir / "keys"   # shared by serve and the audit/checkpoint commands
        bank = Bank(url, server, seconds, seed, key_dir, run_dir)
        tally = await bank.run()
    print(summary(tally, on_server=server is None), flush=True)
    if tally.anomalies:
        print(f"the service's log is kept in {run_dir / 'serve.log'}", flush=True)
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.bank", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int)
    args = parser.parse_args(argv)
    tally = asyncio.run(run_bank(args.minutes * 60, args.seed))
    return 1 if tally.anomalies else 0


if __name__ == "__main__":
    sys.exit(main())
