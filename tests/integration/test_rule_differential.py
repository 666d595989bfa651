"""Differential tests: each rule that runs in SQL against its reference model.

Hypothesis makes the inputs; the SQL function answers on a real database (called
directly, or through the smallest public path that reaches it); the reference model
answers in plain Python; the two must agree exactly. CONTRIBUTING.md ("Where each rule
lives") lists the rules, their homes and these tests.

- awards (`earning_award_chunk`, `earning_record_attendance`) vs `earning/reference.py`:
  the formula, each per-record refusal, the daily cap across several records of one
  resident and day, a rule changed between requests, the budget; the cap shared with
  service requests confirmed for that day under the same rule (`service_pay`), each way;
- captures (`voucher_capture`, and the Python path) vs `redemption/reference.py`:
  amounts, partial captures, what stays on hold, each refusal;
- the `entry_rules` table and the posting trigger vs `ledger.model.ENTRY_RULES` /
  `posting_allowed`.

Examples are few and bounded (each makes a small world in a fresh realm), so the whole
module runs in well under a minute.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, event, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import text

from earning import model as earning_model
from earning import reference as earning_reference
from earning import repository as earning_repository
from api import service_loop
from earning.reference import ActivityFacts, Book
from ledger import db
from ledger import errors as ledger_errors
from ledger import model as ledger_model
from redemption import codec
from redemption import model as redemption_model
from redemption import reference as redemption_reference
from redemption import repository as redemption_repository
from orders.service import Orders
from redemption.service import Vouchers
from tests.conftest import new_realm_code
from tests.integration.earning_fixtures import add_resident, yesterday_evening
from tests.integration.service_fixtures import approve, confirm, done_request
from tests.redemption_support import fund_resident, key_ring, merchants, shop  # noqa: F401

AWARD_EXAMPLES = 20
CAPTURE_EXAMPLES = 20             # per path (SQL, Python)
ENTRY_RULE_EXAMPLES = 200          # more than the 126 (kind, account kind, direction) triples
DIFFERENTIAL = settings(deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
                        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
UNKNOWN_ID = 2**62                 # no activity, resident or voucher has it
ACTIVITY_TYPE = "differential"
REALM_TZ = ledger_model.DEFAULT_TIMEZONE

# awards --------------------------------------------------------------------------------

# The world of one example: activities 0-2 on one realm day, 3 on the day before, 4 in the
# future, 5 unknown; residents 0-2 registered, 3 unknown.
SAME_DAY_ACTIVITIES, ACTIVITY_SLOTS, RESIDENT_SLOTS, REGISTERED = 3, 6, 4, 3
FUTURE_SLOT, UNKNOWN_SLOT = 4, 5

rules = st.builds(
    earning_model.Rule, asset=st.just("civic"), base_points=st.integers(0, 30),
    points_per_hour=st.integers(0, 12), creditable_minutes_max=st.integers(1, 300),
    daily_cap_points=st.integers(1, 80)).map(  # a rule pays something (check_rule)
        lambda rule: rule if rule.base_points or rule.points_per_hour else replace(rule, base_points=1))
# Mostly records that may be paid, so that caps and budgets bind; refusals in between.
minutes = st.one_of(st.integers(1, 240), st.sampled_from([-1, 0, 1, 59, 60, 61, 119, 120, 1440, 1441]),
                    st.integers(-5, 1500))
activity_slots = st.one_of(st.integers(0, FUTURE_SLOT - 1), st.integers(0, ACTIVITY_SLOTS - 1))
resident_slots = st.one_of(st.integers(0, REGISTERED - 1), st.integers(0, RESIDENT_SLOTS - 1))
rows = st.lists(st.tuples(activity_slots, resident_slots, minutes), min_size=1, max_size=12)
# service requests a registered resident did on the same-day activities' day, minutes spent
services = st.lists(st.tuples(st.integers(0, REGISTERED - 1), st.integers(1, 300)), max_size=4)
lengths_s = st.lists(st.integers(30 * 60, 25 * 3600 + 59), min_size=FUTURE_SLOT + 1, max_size=FUTURE_SLOT + 1)


class AwardWorld:
    """A fresh realm with one activity type, its activities and residents, and the
    reference model's view of them."""

    def __init__(self, earning, realm: str, station: int, activity_ids: list[int], resident_ids: list[int],
                 facts: dict[int, ActivityFacts], book: Book) -> None:
        self.earning, self.realm, self.station = earning, realm, station
        self.activity_ids, self.resident_ids = activity_ids, resident_ids
        self.facts, self.book = facts, book

    @classmethod
    async def make(cls, earning, ledger, rule: earning_model.Rule, lengths: list[int],
                   budget: int) -> AwardWorld:
        realm = new_realm_code()
        await ledger.open_realm(realm, f"差分 {realm}")
        town = await earning.create_town(realm, "差分街道")
        station = (await earning.create_station(realm, town["id"], "差分社区", "urban"))["id"]
        residents = [await add_resident(earning, realm, station) for _ in range(REGISTERED)]
        if budget:
            await earning.fund_budget(realm, "civic", budget, "test", f"fund-{realm}")
        await earning.create_activity_type(realm, ACTIVITY_TYPE, "差分活动", rule, "test")
        evening = yesterday_evening(REALM_TZ)
        starts = [evening - timedelta(hours=slot + 1) for slot in range(SAME_DAY_ACTIVITIES)]
        starts += [evening - timedelta(days=1), datetime.now(timezone.utc) + timedelta(days=1)]
        facts: dict[int, ActivityFacts] = {}
        ids = []
        for slot, (start, length) in enumerate(zip(starts, lengths)):
            made = await earning.create_activity(realm, ACTIVITY_TYPE, station, f"差分 {slot}", start,
                                                 start + timedelta(seconds=length), "test")
            ids.append(made["id"])
            facts[made["id"]] = ActivityFacts(ACTIVITY_TYPE, rule, start.astimezone(ZoneInfo(REALM_TZ)).date(),
                                              length, started=slot != FUTURE_SLOT)
        return cls(earning, realm, station, ids + [UNKNOWN_ID], residents + [UNKNOWN_ID], facts,
                   Book(budgets={"civic": budget}))

    def records(self, picked: list[tuple[int, int, int]]) -> list[earning_model.Record]:
        return [earning_model.Record(n, self.activity_ids[a], self.resident_ids[r], m)
                for n, (a, r, m) in enumerate(picked, start=1)]

    def expected(self, records: list[earning_model.Record]) -> list[dict]:
        results, self.book = earning_reference.award_chunk(
            self.book, self.facts, set(self.resident_ids[:REGISTERED]), records)
        return results

    async def change_rule(self, rule: earning_model.Rule) -> None:
        changed = await self.earning.change_rule(self.realm, ACTIVITY_TYPE, rule, "test")
        versioned = earning_model.Rule(rule.asset, rule.base_points, rule.points_per_hour,
                                       rule.creditable_minutes_max, rule.daily_cap_points,
                                       changed["version"])
        self.facts = {activity_id: ActivityFacts(f.activity_type, versioned, f.award_day, f.length_s, f.started)
                      for activity_id, f in self.facts.items()}

    async def serve(self, ledger, picked: list[tuple[int, int]]) -> list[int]:
        """Service requests done by registered residents on the same-day activities' day,
        confirmed under the activity type's rule (as orders pays by the 志愿 rule): each
        pays what the model says. The budget gets what the formula could pay first, so
        that what the chunks meet is still the example's budget."""
        if not picked:
            return []
        orders, facts = Orders(self.earning.engine, ledger), self.facts[self.activity_ids[0]]
        requester = await add_resident(self.earning, self.realm, self.station)
        for resident_id in {self.resident_ids[r] for r, _ in picked}:
            await approve(orders, self.realm, resident_id, self.station)
        extra = sum(earning_model.award_points(facts.rule, m) for _, m in picked)
        await self.earning.fund_budget(self.realm, "civic", extra, "test", f"fund-{uuid.uuid4()}")
        self.book = replace(self.book, budgets={"civic": self.book.budgets["civic"] + extra})
        done_at = yesterday_evening(REALM_TZ) - timedelta(minutes=30)   # the same-day activities' day
        paid_all = []
        for slot, spent in picked:
            resident_id = self.resident_ids[slot]
            request = await done_request(orders, self.realm, self.station, requester, resident_id, spent, done_at)
            paid = await confirm(orders, request, service_loop.pay_by(facts.rule, ACTIVITY_TYPE, spent))
            expected, self.book = earning_reference.service_pay(self.book, resident_id, ACTIVITY_TYPE,
                                                                facts.award_day, facts.rule, spent)
            assert paid == expected, (slot, spent)
            paid_all.append(paid)
        return paid_all

    async def award_chunk(self, records: list[earning_model.Record]) -> list[dict]:
        """`earning_award_chunk` itself (the path of the CSV import)."""
        return await db.in_transaction(self.earning.engine, lambda conn: earning_repository.award_chunk(
            conn, self.realm, records, "test"))

    async def record_attendance(self, records: list[earning_model.Record]) -> list[dict]:
        """`earning_record_attendance` through the service (bulk requests, closing)."""
        activity = await self.earning.activity(records[0].activity_id)
        outcome = await self.earning.record_attendance(
            activity, [(r.resident_id, r.minutes) for r in records], "test", uuid.uuid4().hex)
        return outcome.results

    async def book_agrees(self, ledger) -> None:
        """The budget and each resident's balance are what the model paid."""
        budget = await ledger.system_account(self.realm, "budget", "civic")
        assert budget["balance"] == self.book.budgets["civic"]
        for resident_id in self.resident_ids[:REGISTERED]:
            account = await ledger.owned_account(self.realm, "resident", "civic", resident_id=resident_id)
            paid = sum(points for (who, _, _), points in self.book.earned.items() if who == resident_id)
            assert account["balance"] == paid


def without_entry_ids(results: list[dict]) -> list[dict]:
    """The SQL's answers as the model gives them."""
    return [{key: value for key, value in result.items() if key != "entry_id"} for result in results]


def answered(results: list[dict]) -> list[dict]:
    """The SQL's answers as the model gives them, each answer's kind counted for
    `--hypothesis-show-statistics`."""
    for result in results:
        event(result.get("error") or ("replayed" if result["replayed"] else "paid"))
    return without_entry_ids(results)


@settings(DIFFERENTIAL, max_examples=AWARD_EXAMPLES)
@given(rule=rules, lengths=lengths_s, budget=st.integers(0, 150), first=rows, second=rows,
       new_rule=st.none() | rules, attendance=st.lists(st.tuples(resident_slots, minutes), min_size=1, max_size=6),
       served=services)
async def test_awards_in_sql_match_the_reference_model(earning, ledger, rule, lengths, budget, first,
                                                       second, new_rule, attendance, served):
    note(f"rule={rule} lengths={lengths} budget={budget} first={first} second={second} "
         f"new_rule={new_rule} attendance={attendance} served={served}")
    world = await AwardWorld.make(earning, ledger, rule, lengths, budget)
    records = world.records(first)
    assert answered(await world.award_chunk(records)) == world.expected(records)
    if new_rule is not None:
        await world.change_rule(new_rule)
    paid = await world.serve(ledger, served)    # after the first chunk's awards, before the second's
    rule_now = world.facts[world.activity_ids[0]].rule
    for (_, spent), points in zip(served, paid):
        event("service capped" if points < earning_model.award_points(rule_now, spent) else "service paid")
    records = world.records(second)
    assert answered(await world.award_chunk(records)) == world.expected(records)
    records = world.records([(0, r, m) for r, m in attendance])
    assert answered(await world.record_attendance(records)) == world.expected(records)
    await world.book_agrees(ledger)


async def test_every_per_record_refusal_agrees_with_the_reference_model(earning, ledger):
    """One request that meets each refusal once, then a repeat: the SQL and the model
    agree on every code (and the request does meet every one)."""
    day_and_more = (earning_model.MINUTES_PER_RECORD_MAX + 60) * 60   # the day before's activity
    world = await AwardWorld.make(earning, ledger, earning_model.Rule("civic", 10, 2, 240, 20),
                                  [2 * 3600] * 3 + [day_and_more, 2 * 3600], budget=40)
    records = world.records([
        (0, 0, 60),              # paid 12
        (0, 0, 60),              # duplicate_record
        (UNKNOWN_SLOT, 0, 60),   # unknown_activity
        (FUTURE_SLOT, 0, 60),    # activity_not_started
        (0, 1, 0),               # minutes_out_of_range: none
        (0, 1, 121),             # minutes_out_of_range: longer than the activity
        (0, 3, 60),              # unknown_resident
        (1, 0, 60),              # the same day: 8 left under the cap of 20
        (2, 0, 60),              # the same day again: daily_cap_reached
        (3, 0, 60),              # the day before: 12; the budget has 8 left
        (3, 1, earning_model.MINUTES_PER_RECORD_MAX + 1),   # minutes_out_of_range: over a day
        (3, 2, earning_model.MINUTES_PER_RECORD_MAX),       # a whole day is not (18 points: budget_exhausted)
        (0, 2, 60),              # budget_exhausted
        (1, 2, 1),               # budget_exhausted: none is paid after the first that did not fit
    ])
    sql = await world.award_chunk(records)
    assert without_entry_ids(sql) == world.expected(records)
    assert {result.get("error") for result in sql} == {
        None, "duplicate_record", "unknown_activity", "activity_not_started", "minutes_out_of_range",
        "unknown_resident", "daily_cap_reached", "budget_exhausted"}
    assert [result.get("points") for result in sql if "error" not in result] == [12, 8, 12]
    again = world.records([(0, 0, 90)])
    replayed = await world.record_attendance(again)
    assert without_entry_ids(replayed) == world.expected(again)
    assert replayed[0]["replayed"] is True and replayed[0]["points"] == 12
    await world.book_agrees(ledger)


async def test_a_record_the_budget_refused_takes_nothing_of_the_daily_cap(earning, ledger):
    """Cap 10, 10 points a record, a budget of 5: the first record does not fit the
    budget and is paid nothing, so the second of the same resident and day is refused by
    the budget too, not by the cap (nothing was paid against the cap)."""
    world = await AwardWorld.make(earning, ledger, earning_model.Rule("civic", 10, 0, 240, 10),
                                  [2 * 3600] * 3 + [2 * 3600, 2 * 3600], budget=5)
    records = world.records([(0, 0, 60), (1, 0, 60), (2, 1, 60)])
    sql = await world.award_chunk(records)
    assert without_entry_ids(sql) == world.expected(records)
    assert [result["error"] for result in sql] == ["budget_exhausted"] * 3
    await world.book_agrees(ledger)


async def test_a_cap_reached_by_paid_records_stays_the_cap_after_the_budget_runs_out(earning, ledger):
    """Cap 10, 10 points a record, a budget of 15: the first record is paid, the
    second (same resident and day) meets the cap, the third (another resident) the
    budget, and a fourth of the first resident is still the cap's."""
    world = await AwardWorld.make(earning, ledger, earning_model.Rule("civic", 10, 0, 240, 10),
                                  [2 * 3600] * 3 + [2 * 3600, 2 * 3600], budget=15)
    records = world.records([(0, 0, 60), (1, 0, 60), (0, 1, 60), (2, 0, 60), (1, 2, 60)])
    sql = await world.award_chunk(records)
    assert without_entry_ids(sql) == world.expected(records)
    assert [result.get("error") for result in sql] == [
        None, "daily_cap_reached", "budget_exhausted", "daily_cap_reached", "budget_exhausted"]
    await world.book_agrees(ledger)


async def test_a_record_the_rule_pays_nothing_agrees_with_the_reference_model(earning, ledger):
    """A rule without base points and a record under an hour: `no_points_earned` in
    both, before the cap and the budget are looked at."""
    world = await AwardWorld.make(earning, ledger, earning_model.Rule("civic", 0, 10, 240, 10),
                                  [2 * 3600] * 3 + [2 * 3600, 2 * 3600], budget=40)
    records = world.records([(0, 0, 59), (1, 0, 60), (2, 0, 30), (0, 1, 120)])
    sql = await world.award_chunk(records)
    assert without_entry_ids(sql) == world.expected(records)
    assert [result.get("error") for result in sql] == ["no_points_earned", None, "no_points_earned", None]
    await world.book_agrees(ledger)


async def test_service_awards_of_the_day_share_the_cap_with_a_later_chunk(earning, ledger):
    """Cap 20, 12 points a record or a service of an hour: services pay resident 0 12 then
    8 and resident 1 12; then a chunk of that day leaves resident 0 nothing and resident
    1 the 8 left, as the model says."""
    world = await AwardWorld.make(earning, ledger, earning_model.Rule("civic", 10, 2, 240, 20), [2 * 3600] * 5,
                                  budget=40)
    assert await world.serve(ledger, [(0, 60), (0, 60), (1, 60), (0, 60)]) == [12, 8, 12, 0]
    records = world.records([(0, 0, 60), (0, 1, 60), (1, 1, 60)])
    sql = await world.award_chunk(records)
    assert without_entry_ids(sql) == world.expected(records)
    assert [result.get("error") or result["points"] for result in sql] == ["daily_cap_reached", 8,
                                                                           "daily_cap_reached"]
    await world.book_agrees(ledger)


# captures ------------------------------------------------------------------------------

SCENARIOS = ("issued", "redeemed", "cancelled", "expired", "missing", "mismatch")
VOUCHER_AMOUNT_MAX = 500
EXPIRED_ISSUE_AGO = timedelta(days=redemption_model.VOUCHER_LIFETIME_DAYS_DEFAULT + 10)
amounts = st.integers(1, VOUCHER_AMOUNT_MAX).flatmap(lambda amount: st.tuples(st.just(amount),
                                                                                st.integers(1, amount)))


class CaptureWorld:
    """A realm with a funded resident and a shop; vouchers issued now, or long ago."""

    def __init__(self, engine, ledger, key_ring, merchants, realm: str) -> None:
        self.engine, self.ledger, self.merchants, self.realm = engine, ledger, merchants, realm
        self.vouchers = Vouchers(engine, ledger, key_ring)
        self.long_ago = Vouchers(engine, ledger, key_ring,
                                 clock=lambda: datetime.now(timezone.utc) - EXPIRED_ISSUE_AGO)
        self.leftovers: list[dict] = []

    async def start(self) -> None:
        self.wallet = await fund_resident(self.ledger, self.realm, 7, points=10**6)
        await self.vouchers.set_policy(self.realm, redemption_model.VOUCHER_LIFETIME_DAYS_DEFAULT,
                                       redemption_model.OUTSTANDING_VOUCHERS_MAX)
        self.store = await shop(self.merchants, self.realm)
        self.store_account = (await self.ledger.owned_account(self.realm, "merchant", "civic",
                                                              merchant_id=self.store.id))["id"]

    async def voucher_in(self, scenario: str, amount: int) -> tuple[codec.Token, dict | None]:
        """The code a merchant shows and the voucher row as it stands before the capture."""
        issuer = self.long_ago if scenario == "expired" else self.vouchers
        voucher = await issuer.issue(self.realm, 7, "civic", amount, None, None, uuid.uuid4().hex, "test")
        token = codec.decode(voucher["code"])
        if scenario == "redeemed":
            await self.vouchers.redeem(self.store, voucher["code"], None, uuid.uuid4().hex, "test")
        elif scenario == "cancelled":
            await self.vouchers.cancel(voucher, "test")
        elif scenario == "missing":
            self.leftovers.append(voucher)  # a genuine code, signed for a serial never issued
            token = self.vouchers._signed(codec.Token(0, uuid.uuid4().bytes, self.realm, "civic", amount,
                                                      None, None, token.expires_at))
        elif scenario == "mismatch":  # genuinely signed, but not what was issued under the serial
            token = self.vouchers._signed(codec.Token(0, token.serial, self.realm, "civic", amount + 1,
                                                      None, None, token.expires_at))
        if scenario in ("expired", "mismatch"):
            self.leftovers.append(voucher)
        row = await db.read(self.engine, lambda conn: redemption_repository.find_by_serial(
            conn, self.realm, token.serial))
        return token, row

    async def capture_sql(self, token: codec.Token, captured: int) -> dict:
        """`voucher_capture` itself, as the group commit calls it."""
        request = {"realm": token.realm, "serial": token.serial.hex(), "amount": token.amount,
                   "asset": token.asset, "captured": captured, "merchant_account_id": self.store_account,
                   "merchant_id": self.store.id, "merchant_realm": self.realm,
                   "idempotency_key": uuid.uuid4().hex, "request_hash": bytes(32).hex(),
                   "offline": False, "created_by": "test"}

        async def work(conn):
            return (await conn.execute(text("SELECT voucher_capture(CAST(:request AS jsonb))"),
                                       {"request": json.dumps(request)})).scalar_one()

        return await db.in_transaction(self.engine, work)

    async def capture_python(self, token: codec.Token, captured: int) -> dict:
        """The capture of `redemption/service.py` (one transaction, not group-committed)."""
        return await self.vouchers.redeem(self.store, codec.encode(token), captured, uuid.uuid4().hex, "test")

    async def observed(self, capture, token: codec.Token, captured: int) -> redemption_reference.Capture:
        accounts = await self.accounts()
        before = {account_id: await self.balance(account_id) for account_id in accounts}
        try:
            redemption = await capture(token, captured)
        except ledger_errors.DomainError as refusal:
            assert {a: await self.balance(a) for a in accounts} == before, "a refusal moved points"
            return redemption_reference.Capture(code=refusal.code)
        voucher = await db.read(self.engine, lambda conn: redemption_repository.find_by_serial(
            conn, self.realm, token.serial))
        entry = await self.ledger.entry(redemption["entry_id"])
        postings = frozenset((p["account_id"], p["amount"]) for p in entry["postings"])
        moved = {a: await self.balance(a) - before[a] for a in accounts}
        assert moved == {a: dict(postings).get(a, 0) for a in accounts}, "balances moved otherwise than posted"
        return redemption_reference.Capture(status=voucher["status"], captured_amount=voucher["captured_amount"],
                                            postings=postings)

    async def accounts(self) -> list[int]:
        hold = await self.ledger.system_account(self.realm, "hold", "civic")
        return [hold["id"], self.wallet["id"], self.store_account]

    async def balance(self, account_id: int) -> int:
        return (await self.ledger.account(account_id))["balance"]

    async def close(self) -> None:
        """Cancel what the examples left issued (expired or never captured), so that no
        other test's expiry run meets them."""
        for voucher in self.leftovers:
            await self.vouchers.cancel(voucher, "test")
        await self.vouchers.close()
        await self.long_ago.close()


@pytest.fixture
async def capture_world(engine, ledger, key_ring, merchants, realm):  # noqa: F811
    world = CaptureWorld(engine, ledger, key_ring, merchants, realm)
    await world.start()
    yield world
    await world.close()


@pytest.mark.parametrize("path", ["sql", "python"])
@settings(DIFFERENTIAL, max_examples=CAPTURE_EXAMPLES)
@given(scenario=st.sampled_from(SCENARIOS), amount_and_capture=amounts)
async def test_captures_match_the_reference_model(capture_world, path, scenario, amount_and_capture):
    amount, captured = amount_and_capture
    token, row = await capture_world.voucher_in(scenario, amount)
    expected = redemption_reference.capture(row, token.amount, token.asset, captured,
                                            capture_world.store_account, datetime.now(timezone.utc))
    capture = capture_world.capture_sql if path == "sql" else capture_world.capture_python
    assert await capture_world.observed(capture, token, captured) == expected


# entry rules ---------------------------------------------------------------------------

async def test_the_entry_rules_table_is_the_models_set(owner_conn):
    table = {(kind, account_kind, direction) for kind, account_kind, direction in owner_conn.execute(
        "SELECT entry_kind, account_kind, direction FROM entry_rules")}
    owner_conn.rollback()
    assert table == set(ledger_model.ENTRY_RULES)


class PostingProbe:
    """One account of every kind in a fresh realm, and an entry to reverse: enough to
    post any (entry kind, account kind, direction) as one posting, then roll it back."""

    def __init__(self, owner_conn: psycopg.Connection, realm: str, accounts: dict[str, int],
                 reversible: int) -> None:
        self.conn, self.realm, self.accounts, self.reversible = owner_conn, realm, accounts, reversible

    @classmethod
    async def make(cls, ledger, owner_conn, realm: str) -> PostingProbe:
        accounts = {kind: (await ledger.system_account(realm, kind, "civic"))["id"]
                    for kind in ledger_model.SYSTEM_ACCOUNT_KINDS}
        accounts["resident"] = (await ledger.create_account(realm, "resident", "civic", resident_id=7))["id"]
        accounts["merchant"] = (await ledger.create_account(realm, "merchant", "civic", merchant_id=7))["id"]
        other = new_realm_code()
        await ledger.open_realm(other, f"对方 {other}")
        accounts["clearing"] = (await ledger.create_account(realm, "clearing", "civic", None, "clearing",
                                                            counterpart_realm=other))["id"]
        funded = await ledger.post(ledger_model.EntryDraft(
            realm=realm, kind="fund", created_by="test",
            lines=(ledger_model.Line(accounts["funding"], -100), ledger_model.Line(accounts["budget"], 100))))
        return cls(owner_conn, realm, accounts, funded["id"])

    def allows(self, entry_kind: str, account_kind: str, direction: int) -> bool:
        """Whether the posting trigger lets the posting through its kind check (a later
        refusal, of the floor say, still means the kind was allowed)."""
        try:
            with self.conn.transaction(force_rollback=True):
                entry_id, created_at = self.conn.execute(
                    "INSERT INTO entries (realm, kind, reverses_entry_id, created_by, created_at, created_txid) "
                    "VALUES (%s, %s, %s, 'test', now(), 0) RETURNING id, created_at",
                    (self.realm, entry_kind, self.reversible if entry_kind == "reversal" else None)).fetchone()
                account_id = self.accounts[account_kind]
                seq, balance = self.conn.execute(
                    "SELECT posting_count, balance FROM accounts WHERE realm = %s AND id = %s",
                    (self.realm, account_id)).fetchone()
                self.conn.execute(
                    "INSERT INTO postings (realm, entry_id, account_id, account_seq, asset, amount, "
                    "balance_after, created_at) VALUES (%s, %s, %s, %s, 'civic', %s, %s, %s)",
                    (self.realm, entry_id, account_id, seq + 1, direction, balance + direction, created_at))
        except psycopg.errors.RaiseException as refusal:
            return refusal.diag.message_primary != "posting_not_allowed"
        return True


@pytest.fixture
async def posting_probe(ledger, owner_conn, realm) -> PostingProbe:
    return await PostingProbe.make(ledger, owner_conn, realm)


@settings(DIFFERENTIAL, max_examples=ENTRY_RULE_EXAMPLES)
@given(entry_kind=st.sampled_from(ledger_model.ENTRY_KINDS), account_kind=st.sampled_from(ledger_model.ACCOUNT_KINDS),
       direction=st.sampled_from((ledger_model.DEBIT, ledger_model.CREDIT)))
async def test_the_posting_trigger_allows_what_the_model_allows(posting_probe, entry_kind, account_kind, direction):
    assert posting_probe.allows(entry_kind, account_kind, direction) == ledger_model.posting_allowed(
        entry_kind, account_kind, direction), (entry_kind, account_kind, direction)


# defaults kept in Python and applied by SQL ---------------------------------------------

@pytest.mark.parametrize("outstanding_max", [None, 1, 3], ids=["default", "one", "three"])
async def test_the_outstanding_voucher_limit_is_the_policy_the_service_shows(engine, ledger, key_ring,  # noqa: F811
                                                                             realm, outstanding_max):
    """`vouchers_admit` alone refuses the voucher past the limit; the limit is the one
    `Vouchers.policy` shows (`OUTSTANDING_VOUCHERS_DEFAULT` when the realm has none)."""
    vouchers = Vouchers(engine, ledger, key_ring)
    await fund_resident(ledger, realm, 7)
    if outstanding_max is not None:
        await vouchers.set_policy(realm, redemption_model.VOUCHER_LIFETIME_DAYS_DEFAULT, outstanding_max)
    limit = (await vouchers.policy(realm)).outstanding_max

    async def issue() -> dict:
        return await vouchers.issue(realm, 7, "civic", 1, None, None, uuid.uuid4().hex, "test")

    issued = [await issue() for _ in range(limit)]
    with pytest.raises(ledger_errors.DomainError) as refused:
        await issue()
    assert refused.value.code == "voucher_limit_reached" and refused.value.context["limit"] == limit
    await vouchers.cancel(issued.pop(), "test")
    issued.append(await issue())
    for voucher in issued:
        await vouchers.cancel(voucher, "test")


async def test_a_new_realms_catalogue_is_the_models_default(earning, realm):
    """`earning_default_catalogue` seeds every new realm; `earning.model` names the same
    defaults (the API's defaults for a new type, the unit tests' catalogue)."""
    seeded = {row["code"]: earning_model.Rule(row["asset"], row["base_points"], row["points_per_hour"],
                                              row["creditable_minutes_max"], row["daily_cap_points"],
                                              row["version"])
              for row in await earning.activity_types(realm)}
    assert seeded == {code: earning_model.Rule("civic", base, earning_model.DEFAULT_POINTS_PER_HOUR,
                                               earning_model.DEFAULT_CREDITABLE_MINUTES_MAX,
                                               earning_model.DEFAULT_DAILY_CAP_POINTS)
                      for code, base in earning_model.DEFAULT_BASE_POINTS.items()}
