"""A hypothesis state machine posts random entries, valid and invalid, against the real
database and a plain-dict model, and checks after every step that they agree and that
the book's invariants hold. Some rules aim at the edges: an amount that takes an account
exactly to its floor, one point short of it, or one point past it, so that a floor off
by one in the book is found there (`make mutate ONLY=floor_sql_one_below_machine`)."""
from __future__ import annotations

import asyncio

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from ledger import db, errors, model
from ledger.group_commit import GroupCommit
from ledger.model import EntryDraft, Line
from ledger.service import Ledger
from tests.conftest import new_realm_code

WALLETS = 4
BUDGET_POINTS = 300
KEYS = [f"key-{i}" for i in range(4)]
amounts = st.integers(min_value=-5, max_value=120)
edges = st.sampled_from([-1, 0, 1])   # points past (1), at (0) or short of (-1) the floor


def floor_refusal(account: model.AccountMeta, balance: int, amount: int) -> str | None:
    """The model's floor rule: the error code a posting of `amount` meets on an account
    holding `balance` (the book enforces it in SQL; this is the oracle)."""
    if account.floor is None or balance + amount >= account.floor:
        return None
    return "budget_exhausted" if account.kind == "budget" else "insufficient_points"


class LedgerMachine(RuleBasedStateMachine):
    database_url: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.engine = db.app_engine(self.database_url, pool_size=2)
        self.ledger = Ledger(self.engine, GroupCommit(self.engine, writers=1))
        self.owner = psycopg.connect(self.database_url, autocommit=True)
        self.balances: dict[int, int] = {}
        self.metas: dict[int, model.AccountMeta] = {}
        self.keys: dict[str, tuple[str, int]] = {}       # key -> (request hash, entry id)
        self.entries: dict[int, tuple[str, tuple[Line, ...]]] = {}  # id -> (kind, lines)
        self.reversed: set[int] = set()

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.run(self.ledger.close())
        self.run(self.engine.dispose())
        self.loop.close()
        self.owner.close()

    @initialize()
    def open_books(self) -> None:
        self.realm = new_realm_code()
        self.run(self.ledger.open_realm(self.realm, "状态机"))
        for kind in ("funding", "budget"):
            for asset in model.ASSETS:
                account = self.run(self.ledger.system_account(self.realm, kind, asset))
                self.track(account)
        self.wallets = []
        for resident_id in range(1, WALLETS + 1):
            asset = "agri" if resident_id == WALLETS else "civic"
            account = self.run(self.ledger.create_account(self.realm, "resident", asset,
                                                          resident_id=resident_id))
            self.track(account)
            self.wallets.append(account["id"])
        self.budget = {a: self.system("budget", a) for a in model.ASSETS}
        self.funding = {a: self.system("funding", a) for a in model.ASSETS}
        for asset in model.ASSETS:
            self.attempt("fund", ((self.funding[asset], -BUDGET_POINTS), (self.budget[asset], BUDGET_POINTS)))

    def track(self, account: dict) -> None:
        self.metas[account["id"]] = model.AccountMeta(account["realm"], account["id"], account["kind"],
                                                      account["asset"], account["floor"])
        self.balances[account["id"]] = account["balance"]

    def system(self, kind: str, asset: str) -> int:
        return next(m.id for m in self.metas.values() if m.kind == kind and m.asset == asset)

    # the model ---------------------------------------------------------------------------

    def expected(self, draft: EntryDraft) -> tuple[str, int | None] | None:
        """What the model says must happen: None to apply, or (error code, replay id)."""
        try:
            model.check_draft(draft, self.metas)
        except errors.DomainError as refusal:
            return refusal.code, None
        if draft.idempotency_key in self.keys:
            first_hash, first_id = self.keys[draft.idempotency_key]
            if first_hash != model.request_hash(draft):
                return "idempotency_key_reused", None
            return "replay", first_id
        if draft.reverses_entry_id in self.reversed:
            return "entry_already_reversed", None
        for line in sorted(draft.lines, key=lambda line: line.account_id):
            refusal = floor_refusal(self.metas[line.account_id], self.balances[line.account_id],
                                    line.amount)
            if refusal is not None:
                return refusal, None
        return None

    def attempt(self, kind: str, pairs, key: str | None = None, reverses: int | None = None) -> None:
        draft = EntryDraft(realm=self.realm, kind=kind, lines=tuple(Line(a, n) for a, n in pairs),
                           created_by="machine", idempotency_key=key, reverses_entry_id=reverses)
        expectation = self.expected(draft)
        try:
            result = self.run(self.ledger.post(draft))
        except errors.DomainError as refusal:
            assert expectation is not None and expectation[0] == refusal.code, (expectation, refusal.code)
            return
        if expectation is not None:
            assert expectation == ("replay", result["id"]) and result["replayed"], (expectation, result)
            return
        assert not result["replayed"]
        for line in draft.lines:
            self.balances[line.account_id] += line.amount
        self.entries[result["id"]] = (kind, draft.lines)
        if reverses is not None:
            self.reversed.add(reverses)
        if key is not None:
            self.keys[key] = (model.request_hash(draft), result["id"])

    # rules -------------------------------------------------------------------------------

    @rule(wallet=st.integers(0, WALLETS - 1), points=amounts, key=st.none() | st.sampled_from(KEYS))
    def earn(self, wallet, points, key):
        asset = self.metas[self.wallets[wallet]].asset
        self.attempt("earn", ((self.budget[asset], -points), (self.wallets[wallet], points)), key)

    @rule(pair=st.permutations(range(WALLETS)), points=amounts, key=st.none() | st.sampled_from(KEYS))
    def transfer(self, pair, points, key):
        source, target = self.wallets[pair[0]], self.wallets[pair[1]]
        self.attempt("adjustment", ((source, -points), (target, points)), key)

    def to_floor(self, account_id: int, edge: int) -> int:
        """Points that take the account to its floor, one short of it, or one past it."""
        return self.balances[account_id] - (self.metas[account_id].floor or 0) + edge

    @rule(wallet=st.integers(0, WALLETS - 1), edge=edges)
    def earn_the_budgets_remainder(self, wallet, edge):
        asset = self.metas[self.wallets[wallet]].asset
        points = self.to_floor(self.budget[asset], edge)
        self.attempt("earn", ((self.budget[asset], -points), (self.wallets[wallet], points)))

    @rule(pair=st.permutations(range(WALLETS)), edge=edges)
    def spend_a_wallet_to_its_floor(self, pair, edge):
        source, target = self.wallets[pair[0]], self.wallets[pair[1]]
        points = self.to_floor(source, edge)
        self.attempt("adjustment", ((source, -points), (target, points)))

    @rule(asset=st.sampled_from(model.ASSETS), points=st.integers(1, 60))
    def fund(self, asset, points):
        self.attempt("fund", ((self.funding[asset], -points), (self.budget[asset], points)))

    @rule(wallet=st.integers(0, WALLETS - 1), points=st.integers(1, 50), skew=st.integers(1, 3))
    def unbalanced(self, wallet, points, skew):
        self.attempt("earn", ((self.budget["civic"], -points), (self.wallets[wallet], points + skew)))

    @rule(points=st.integers(1, 50))
    def across_assets(self, points):
        self.attempt("earn", ((self.budget["civic"], -points), (self.wallets[-1], points)))

    @rule(data=st.data())
    def reverse(self, data):
        reversible = sorted(i for i, (kind, _) in self.entries.items() if kind in model.REVERSIBLE_KINDS)
        if not reversible:
            return
        entry_id = data.draw(st.sampled_from(reversible))
        kind, lines = self.entries[entry_id]
        self.attempt("reversal", tuple((l.account_id, l.amount) for l in model.mirror_lines(lines)),
                     reverses=entry_id)

    # invariants --------------------------------------------------------------------------

    @invariant()
    def books_agree(self) -> None:
        if not hasattr(self, "realm"):
            return
        rows = self.owner.execute(
            "SELECT a.id, a.kind, a.asset, a.balance, a.floor, coalesce(sum(p.amount), 0),"
            " (SELECT balance_after FROM postings q WHERE q.realm = a.realm AND q.account_id = a.id"
            "  ORDER BY account_seq DESC LIMIT 1)"
            " FROM accounts a LEFT JOIN postings p ON p.realm = a.realm AND p.account_id = a.id"
            " WHERE a.realm = %s GROUP BY a.realm, a.id", (self.realm,)).fetchall()
        per_asset: dict[str, int] = {}
        for account_id, _kind, asset, balance, floor, posted, last in rows:
            assert balance == posted == (last or 0), account_id
            assert floor is None or balance >= floor, account_id
            per_asset[asset] = per_asset.get(asset, 0) + balance
            if account_id in self.balances:
                assert balance == self.balances[account_id], account_id
        assert all(total == 0 for total in per_asset.values()), per_asset


@pytest.mark.db
def test_ledger_state_machine(database_url):
    LedgerMachine.database_url = database_url
    machine_test = LedgerMachine.TestCase
    machine_test.settings = settings(max_examples=20, stateful_step_count=25, deadline=None,
                                     suppress_health_check=list(HealthCheck))
    machine_test("runTest").runTest()

