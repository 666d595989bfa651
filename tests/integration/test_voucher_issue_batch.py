"""Issuing vouchers through the group commit (issue 17): `voucher_issue_batch` in SQL, and
`Vouchers.issue` with writers, against a real PostgreSQL."""
from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from sqlalchemy import text

from ledger import db, errors as ledger_errors
from redemption import errors, model
from redemption.service import Vouchers
from tests.redemption_support import balance, clock, fund_resident, grouped, key_ring  # noqa: F401

async def issue(vouchers, realm, amount, resident_id=7, key=None):
    return await vouchers.issue(realm, resident_id, "civic", amount, None, None,
                                key or f"issue-{uuid.uuid4().hex}", "test")


async def batch_item(vouchers: Vouchers, ledger, realm: str, resident_id: int, amount: int,
                     key: str | None = None) -> dict:
    """One `voucher_issue` request, as `Vouchers._group_issue` submits it."""
    wallet = await ledger.owned_account(realm, "resident", "civic", resident_id=resident_id)
    hold = await ledger.system_account(realm, "hold", "civic")
    key = key or f"batch-{uuid.uuid4().hex}"
    fingerprint = vouchers.issue_fingerprint(resident_id, "civic", amount, None, None)
    row = vouchers._new_voucher(realm, resident_id, "civic", amount, None, None, key, fingerprint, "test",
                                model.Policy(), "Asia/Shanghai", wallet["id"], hold["id"])
    return {**row, "serial": row["serial"].hex(), "request_hash": fingerprint.hex(),
            "expires_at": row["expires_at"].isoformat()}


async def run_batch(engine, items: list[dict]) -> list[dict]:
    return await db.in_one_statement(engine, lambda conn: _batch(conn, items))


async def _batch(conn, items):
    return (await conn.execute(text("SELECT voucher_issue_batch(CAST(:r AS jsonb))"),
                               {"r": json.dumps(items)})).scalar_one()


async def test_a_refused_item_rolls_back_alone_and_the_others_commit(grouped, engine, ledger, realm):
    rich = await fund_resident(ledger, realm, 1, points=100)
    poor = await fund_resident(ledger, realm, 2, points=10)
    capped = await fund_resident(ledger, realm, 3, points=100)
    await grouped.set_policy(realm, 30, 2)
    for _ in range(2):  # resident 3 at its limit
        await issue(grouped, realm, 5, resident_id=3)
    hold = await ledger.system_account(realm, "hold", "civic")
    items = [await batch_item(grouped, ledger, realm, 1, 30, key="first"),
             await batch_item(grouped, ledger, realm, 2, 11),
             await batch_item(grouped, ledger, realm, 3, 5),
             await batch_item(grouped, ledger, realm, 1, 30, key="first"),  # a twin in the same batch
             await batch_item(grouped, ledger, realm, 1, 40)]
    results = await run_batch(engine, items)
    assert [r.get("error") for r in results] == [
        None, "insufficient_points", "voucher_limit_reached", "constraint_violation", None]
    assert results[1]["detail"]["account_id"] == poor["id"]
    assert results[3]["detail"]["constraint"] == "vouchers_idempotency_key"
    assert await balance(ledger, rich["id"]) == 100 - 70
    assert await balance(ledger, poor["id"]) == 10
    assert await balance(ledger, capped["id"]) == 90
    assert await balance(ledger, hold["id"]) == hold["balance"] + 70
    for result in (results[0], results[4]):
        stored = await grouped.get(result["id"])
        assert stored["hold_entry_id"] == result["hold_entry_id"]
        assert (await ledger.entry(stored["hold_entry_id"]))["reference"] == model.reference(stored["serial"])


async def test_a_batch_with_no_refusal_goes_together_and_answers_each_voucher(grouped, engine, ledger, realm):
    wallets = [await fund_resident(ledger, realm, resident_id, points=100) for resident_id in (1, 2)]
    hold = await ledger.system_account(realm, "hold", "civic")
    items = [await batch_item(grouped, ledger, realm, resident_id, amount)
             for resident_id, amount in ((1, 10), (2, 20), (1, 30))]
    results = await run_batch(engine, items)
    assert [(r["resident_id"], r["amount"], r["serial"]) for r in results] == \
           [(i["resident_id"], i["amount"], i["serial"]) for i in items]
    for result in results:
        stored = await grouped.get(result["id"])
        entry = await ledger.entry(stored["hold_entry_id"])
        assert entry["reference"] == model.reference(stored["serial"])
        assert {p["account_id"]: p["amount"] for p in entry["postings"]} == \
               {stored["resident_account_id"]: -stored["amount"], hold["id"]: stored["amount"]}
    assert [await balance(ledger, wallet["id"]) for wallet in wallets] == [60, 80]
    assert await balance(ledger, hold["id"]) == hold["balance"] + 60


async def test_the_answer_is_the_stored_voucher_with_the_same_types(grouped, ledger, realm):
    await fund_resident(ledger, realm, 7)
    issued = await issue(grouped, realm, 25)
    stored = await grouped.get(issued["id"])
    assert issued == {**stored, "replayed": False}
    assert {name: type(value) for name, value in issued.items() if name != "replayed"} == \
           {name: type(value) for name, value in stored.items()}
    assert grouped.read_code(issued["code"]).amount == 25


async def test_a_retry_with_the_same_key_replays_and_another_request_is_refused(grouped, ledger, realm):
    wallet = await fund_resident(ledger, realm, 7)
    first = await issue(grouped, realm, 50, key="same")
    again = await issue(grouped, realm, 50, key="same")
    assert (again["id"], again["code"], again["replayed"]) == (first["id"], first["code"], True)
    with pytest.raises(ledger_errors.IdempotencyKeyReused) as reused:
        await issue(grouped, realm, 51, key="same")
    assert reused.value.context["voucher_id"] == first["id"]
    assert await balance(ledger, wallet["id"]) == 1000 - 50


async def test_twins_with_the_same_key_at_once_make_one_voucher(grouped, ledger, realm):
    wallet = await fund_resident(ledger, realm, 7)
    twins = await asyncio.gather(*(issue(grouped, realm, 40, key="twin") for _ in range(4)))
    assert len({voucher["id"] for voucher in twins}) == 1
    assert sorted(voucher["replayed"] for voucher in twins) == [False, True, True, True]
    assert await balance(ledger, wallet["id"]) == 1000 - 40


async def test_refusals_answer_as_the_one_transaction_path(grouped, ledger, realm):
    await fund_resident(ledger, realm, 7, points=100)
    with pytest.raises(ledger_errors.InsufficientPoints) as short:
        await issue(grouped, realm, 101)
    assert (short.value.context["balance"], short.value.context["amount"]) == (100, 101)
    with pytest.raises(ledger_errors.InsufficientPoints) as none:
        await issue(grouped, realm, 1, resident_id=8)  # no wallet
    assert (none.value.context["balance"], none.value.context["amount"]) == (0, 1)
    with pytest.raises(ledger_errors.UnknownRealm):
        await issue(grouped, "000000", 1)


@pytest.mark.parametrize("points, limit, amount, issued", [(100, 5, 30, 3), (1000, 3, 10, 3)],
                         ids=["balance-bound", "limit-bound"])
async def test_concurrent_issues_never_pass_the_balance_or_the_limit(grouped, ledger, realm,
                                                                     points, limit, amount, issued):
    wallet = await fund_resident(ledger, realm, 7, points=points)
    hold = await ledger.system_account(realm, "hold", "civic")
    await grouped.set_policy(realm, 30, limit)
    results = await asyncio.gather(*(issue(grouped, realm, amount) for _ in range(20)), return_exceptions=True)
    made = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if not isinstance(r, dict)]
    assert all(isinstance(r, (ledger_errors.InsufficientPoints, errors.VoucherLimitReached)) for r in refused), refused
    assert len(made) == issued
    assert await balance(ledger, wallet["id"]) == points - issued * amount
    assert await balance(ledger, hold["id"]) == hold["balance"] + issued * amount
