"""Many writers at once: nothing lost, nothing duplicated, nothing overdrawn, and no
error but `insufficient_points` reaches a caller."""
import asyncio
import random

import pytest

from ledger import errors
from ledger.group_commit import GroupCommit
from ledger.service import Ledger
from tests.integration.helpers import earn, funded_budget, move, residents

WORKERS = 16
TRANSFERS_PER_WORKER = 200
WALLETS = 20
STARTING_POINTS = 30


@pytest.fixture(params=["one-commit-per-entry", "group-commit"])
async def some_ledger(request, engine, ledger):
    if request.param == "one-commit-per-entry":
        yield ledger
        return
    grouped = Ledger(engine, GroupCommit(engine, writers=3))
    yield grouped
    await grouped.close()


async def test_random_transfers_among_small_wallets(some_ledger, realm, owner_conn):
    ledger = some_ledger
    budget = await funded_budget(ledger, realm, WALLETS * STARTING_POINTS)
    wallets = await residents(ledger, realm, WALLETS)
    for wallet in wallets:
        await ledger.post(earn(realm, budget, wallet, STARTING_POINTS))
    accepted: list[tuple[str, int]] = []
    refusals: list[str] = []

    async def worker(number: int) -> None:
        rng = random.Random(number)
        for i in range(TRANSFERS_PER_WORKER):
            source, target = rng.sample(wallets, 2)
            key = f"w{number}-{i}"
            try:
                result = await ledger.post(move(realm, source, target, rng.randint(1, 12),
                                                idempotency_key=key))
                accepted.append((key, result["id"]))
            except errors.InsufficientPoints as refusal:
                refusals.append(refusal.code)

    await asyncio.gather(*(worker(n) for n in range(WORKERS)))

    assert len(accepted) + len(refusals) == WORKERS * TRANSFERS_PER_WORKER
    assert refusals, "balances this small must have refused some transfers"
    assert accepted, "and accepted others"
    balances = dict(owner_conn.execute(
        "SELECT id, balance FROM accounts WHERE realm = %s AND kind = 'resident'", (realm,)).fetchall())
    assert min(balances.values()) >= 0
    assert sum(balances.values()) == WALLETS * STARTING_POINTS
    stored = dict(owner_conn.execute(
        "SELECT idempotency_key, id FROM entries WHERE realm = %s AND kind = 'adjustment'",
        (realm,)).fetchall())
    assert stored == dict(accepted)  # every accepted entry present once, and only those
    mismatched = owner_conn.execute(
        "SELECT a.id FROM accounts a LEFT JOIN LATERAL (SELECT coalesce(sum(amount), 0) AS total,"
        " (array_agg(balance_after ORDER BY account_seq DESC))[1] AS last"
        " FROM postings p WHERE p.realm = a.realm AND p.account_id = a.id) p ON true"
        " WHERE a.realm = %s AND (a.balance <> p.total OR a.balance <> coalesce(p.last, 0))",
        (realm,)).fetchall()
    assert mismatched == []


async def test_one_idempotency_key_posted_concurrently_makes_one_entry(some_ledger, realm, owner_conn):
    ledger = some_ledger
    budget = await funded_budget(ledger, realm, 100)
    [wallet] = await residents(ledger, realm, 1)
    results = await asyncio.gather(*(ledger.post(earn(realm, budget, wallet, 7, idempotency_key="once"))
                                     for _ in range(20)))
    assert len({r["id"] for r in results}) == 1
    assert sum(1 for r in results if not r["replayed"]) == 1
    count = owner_conn.execute("SELECT count(*) FROM entries WHERE realm = %s AND kind = 'earn'",
                               (realm,)).fetchone()[0]
    assert count == 1
    assert (await ledger.account(wallet))["balance"] == 7


async def test_budget_is_never_overspent_by_concurrent_earners(some_ledger, realm):
    ledger = some_ledger
    budget = await funded_budget(ledger, realm, 500)
    wallets = await residents(ledger, realm, 10)
    outcomes = await asyncio.gather(
        *(ledger.post(earn(realm, budget, wallets[i % 10], 7)) for i in range(100)),
        return_exceptions=True)
    awarded = [o for o in outcomes if isinstance(o, dict)]
    refused = [o for o in outcomes if not isinstance(o, dict)]
    assert all(isinstance(o, errors.BudgetExhausted) for o in refused)
    assert len(awarded) == 500 // 7
    assert (await ledger.account(budget))["balance"] == 500 - 7 * len(awarded)
