"""Capturing vouchers through the group commit (issue 17): `voucher_capture_batch` tries a
batch together (`voucher_capture_together`: one UPDATE of the vouchers, the entries through
`ledger_post_together`, one INSERT of the redemptions) and goes one capture at a time
(`voucher_capture`) when anything in it is refused; against a real PostgreSQL."""
from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace

import pytest
from sqlalchemy import text

from ledger import db
from redemption import errors
from redemption.service import Vouchers
from tests.redemption_support import (balance, clock, fund_resident, grouped, key_ring, merchants,  # noqa: F401
                                      shop)

async def issue(vouchers, realm, amount=100, resident_id=7):
    return await vouchers.issue(realm, resident_id, "civic", amount, None, None, f"issue-{uuid.uuid4().hex}", "test")


async def capture_item(vouchers: Vouchers, merchant, code: str, captured: int | None = None, **changes) -> dict:
    """One `voucher_capture` request, as `Vouchers._group_capture` submits it."""
    token = replace(vouchers.read_code(code), **changes)
    merchant_account = await vouchers._merchant_account(merchant, token.asset)
    return {"realm": token.realm, "serial": token.serial.hex(), "amount": token.amount, "asset": token.asset,
            "captured": token.amount if captured is None else captured,
            "merchant_account_id": merchant_account, "merchant_id": merchant.id,
            "merchant_realm": merchant.realm, "idempotency_key": f"capture-{uuid.uuid4().hex}",
            "request_hash": uuid.uuid4().bytes.hex(), "offline": False, "created_by": "test"}


async def run(engine, call: str, items: list[dict]) -> list[dict]:
    async def statement(conn):
        return (await conn.execute(text(f"SELECT {call}"), {"r": json.dumps(items)})).scalar_one()
    return await db.in_one_statement(engine, statement)


async def run_batch(engine, items: list[dict]) -> list[dict]:
    return await run(engine, "voucher_capture_batch(CAST(:r AS jsonb))", items)


async def one_at_a_time(engine, items: list[dict]) -> list[dict]:
    """The fall-back path alone, for comparison."""
    return await run(engine, "pb_batch_each('voucher_capture', CAST(:r AS jsonb))", items)


async def writing_transactions(engine, table: str, ids: list[int]) -> set[str]:
    """The (sub)transaction ids that wrote these rows: one for a batch that went together,
    one per item for a batch that went one capture at a time (each its own subtransaction)."""
    async def read(conn):
        rows = await conn.execute(text(f"SELECT xmin::text FROM {table} WHERE id = ANY(:ids)"), {"ids": ids})
        return {row[0] for row in rows}
    return await db.read(engine, read)


def shape(result: dict) -> dict:
    """An answer without what differs from one capture to the next (ids, times)."""
    return {name: value for name, value in result.items()
            if name not in ("id", "voucher_id", "entry_id", "created_at")}


async def test_a_clean_batch_goes_together_and_answers_as_one_at_a_time(grouped, merchants, engine, ledger, realm):
    wallet = await fund_resident(ledger, realm, 7)
    store = await shop(merchants, realm)
    hold = await ledger.system_account(realm, "hold", "civic")
    together = [await issue(grouped, realm, amount) for amount in (10, 20, 30)]
    apart = [await issue(grouped, realm, amount) for amount in (10, 20, 30)]
    items = [await capture_item(grouped, store, v["code"]) for v in together]
    results = await run_batch(engine, items)
    assert [r["voucher_id"] for r in results] == [v["id"] for v in together]  # request order
    assert len(await writing_transactions(engine, "vouchers", [v["id"] for v in together])) == 1
    assert len(await writing_transactions(engine, "redemptions", [r["id"] for r in results])) == 1
    expected = await one_at_a_time(engine, [await capture_item(grouped, store, v["code"]) for v in apart])
    assert len(await writing_transactions(engine, "vouchers", [v["id"] for v in apart])) == 3
    assert [sorted(r) for r in results] == [sorted(r) for r in expected]
    assert [shape(r) for r in results] == [shape(r) for r in expected]
    for result, voucher, item in zip(results, together, items):
        entry = await ledger.entry(result["entry_id"])
        assert (entry["kind"], entry["reference"]) == ("capture", f"voucher:{item['serial']}")
        assert {p["account_id"]: p["amount"] for p in entry["postings"]} == \
               {hold["id"]: -voucher["amount"], item["merchant_account_id"]: voucher["amount"]}
        assert (await grouped.get(voucher["id"]))["status"] == "redeemed"
    merchant_account = await ledger.owned_account(realm, "merchant", "civic", merchant_id=store.id)
    assert merchant_account["balance"] == 120
    assert await balance(ledger, wallet["id"]) == 1000 - 120
    assert await balance(ledger, hold["id"]) == 0


async def test_partial_captures_in_a_batch_return_the_rest_to_the_resident(grouped, merchants, engine, ledger, realm):
    wallets = [await fund_resident(ledger, realm, resident_id) for resident_id in (1, 2)]
    store = await shop(merchants, realm)
    hold = await ledger.system_account(realm, "hold", "civic")
    vouchers = [await issue(grouped, realm, 100, resident_id=1), await issue(grouped, realm, 50, resident_id=2),
                await issue(grouped, realm, 40, resident_id=1)]
    items = [await capture_item(grouped, store, vouchers[0]["code"], 30),
             await capture_item(grouped, store, vouchers[1]["code"], 50),
             await capture_item(grouped, store, vouchers[2]["code"], 1)]
    results = await run_batch(engine, items)
    assert [r["amount"] for r in results] == [30, 50, 1]
    assert len(await writing_transactions(engine, "vouchers", [v["id"] for v in vouchers])) == 1
    assert [(c["status"], c["captured_amount"]) for c in [await grouped.get(v["id"]) for v in vouchers]] == \
           [("partially_redeemed", 30), ("redeemed", 50), ("partially_redeemed", 1)]
    first = await ledger.entry(results[0]["entry_id"])
    assert {p["account_id"]: p["amount"] for p in first["postings"]} == \
           {hold["id"]: -100, items[0]["merchant_account_id"]: 30, wallets[0]["id"]: 70}
    assert [await balance(ledger, w["id"]) for w in wallets] == [1000 - 30 - 1, 1000 - 50]
    merchant_account = await ledger.owned_account(realm, "merchant", "civic", merchant_id=store.id)
    assert merchant_account["balance"] == 81
    assert await balance(ledger, hold["id"]) == 0


async def test_a_refused_item_goes_one_at_a_time_and_the_others_capture(grouped, merchants, engine, ledger, realm,
                                                                        owner_conn):
    await fund_resident(ledger, realm, 7)
    store = await shop(merchants, realm)
    closed = await shop(merchants, realm, name="停业店")
    v = [await issue(grouped, realm, 10) for _ in range(7)]
    await grouped.redeem(store, v[1]["code"], None, "earlier", "m")
    owner_conn.execute("SET LOCAL session_replication_role = replica")
    owner_conn.execute("UPDATE vouchers SET expires_at = now() - interval '1 second' WHERE id = %s", (v[2]["id"],))
    owner_conn.commit()
    suspended_item = await capture_item(grouped, closed, v[4]["code"])
    await merchants.set_status(closed.id, "suspended")
    items = [await capture_item(grouped, store, v[0]["code"]),
             await capture_item(grouped, store, v[1]["code"]),           # already redeemed
             await capture_item(grouped, store, v[2]["code"]),           # expired
             await capture_item(grouped, store, v[3]["code"], amount=11, captured=10),  # not the row's code
             suspended_item,                                             # merchant suspended meanwhile
             await capture_item(grouped, store, v[5]["code"]),
             await capture_item(grouped, store, v[5]["code"]),           # the same serial twice
             await capture_item(grouped, store, v[6]["code"], 4)]
    results = await run_batch(engine, items)
    assert [r.get("error") for r in results] == [
        None, "voucher_already_redeemed", "voucher_expired", "voucher_code_mismatch", "merchant_not_active",
        None, "voucher_already_redeemed", None]
    assert [r["voucher_id"] for r in results if "error" not in r] == [v[0]["id"], v[5]["id"], v[6]["id"]]
    assert [(await grouped.get(x["id"]))["status"] for x in v] == [
        "redeemed", "redeemed", "issued", "issued", "issued", "redeemed", "partially_redeemed"]
    merchant_account = await ledger.owned_account(realm, "merchant", "civic", merchant_id=store.id)
    assert merchant_account["balance"] == 10 + 10 + 10 + 4
    assert await balance(ledger, (await ledger.system_account(realm, "hold", "civic"))["id"]) == 30
    assert await balance(ledger, (await ledger.owned_account(realm, "resident", "civic", resident_id=7))["id"]) \
        == 1000 - 70 + 6


async def test_concurrent_batches_capture_each_voucher_once(grouped, merchants, engine, ledger, realm):
    for resident_id in range(1, 5):
        await fund_resident(ledger, realm, resident_id)
    stores = [await shop(merchants, realm, name=f"店{n}") for n in range(3)]
    ready = [await issue(grouped, realm, 10 + r, resident_id=r) for r in range(1, 5) for _ in range(5)]
    attempts = [(store, voucher, amount) for voucher in ready for store in stores
                for amount in (None, 5)]
    results = await asyncio.gather(*(grouped.redeem(store, voucher["code"], amount, f"k-{uuid.uuid4().hex}", "m")
                                     for store, voucher, amount in attempts), return_exceptions=True)
    won = [r for r in results if isinstance(r, dict)]
    assert all(isinstance(r, errors.VoucherAlreadyRedeemed) for r in results if not isinstance(r, dict)), results
    assert sorted(r["voucher_id"] for r in won) == sorted(v["id"] for v in ready)
    captured = sum(r["amount"] for r in won)
    merchant_total = sum([(await ledger.owned_account(realm, "merchant", "civic", merchant_id=s.id))["balance"]
                          for s in stores])
    assert merchant_total == captured
    wallets = sum([await balance(ledger, (await ledger.owned_account(realm, "resident", "civic",
                                                                      resident_id=r))["id"]) for r in range(1, 5)])
    assert wallets == 4 * 1000 - captured
    async def reconciliation(conn):
        return (await conn.execute(text("SELECT hold_balance, outstanding, difference FROM hold_reconciliation "
                                        "WHERE realm = :realm"), {"realm": realm})).all()
    rows = await db.read(engine, reconciliation)
    assert rows and all(row.difference == 0 for row in rows), rows


@pytest.mark.parametrize("refusal", ["voucher_already_redeemed", "voucher_expired", "voucher_code_mismatch",
                                     "merchant_not_active", "twin"])
async def test_one_refusal_alone_sends_the_batch_one_at_a_time(grouped, merchants, engine, ledger, realm,
                                                               owner_conn, refusal):
    """Each refusal on its own in an otherwise clean batch: the others capture (one at a
    time), the refused voucher is left as it was, nothing of the try stays."""
    await fund_resident(ledger, realm, 7)
    store = await shop(merchants, realm)
    v = [await issue(grouped, realm, 10) for _ in range(3)]
    middle = await capture_item(grouped, store, v[1]["code"])
    expected_status = "issued"
    if refusal == "voucher_already_redeemed":
        await grouped.redeem(store, v[1]["code"], None, "earlier", "m")
        expected_status = "redeemed"
    elif refusal == "voucher_expired":
        owner_conn.execute("SET LOCAL session_replication_role = replica")
        owner_conn.execute("UPDATE vouchers SET expires_at = now() - interval '1 second' WHERE id = %s",
                           (v[1]["id"],))
        owner_conn.commit()
    elif refusal == "voucher_code_mismatch":
        middle = await capture_item(grouped, store, v[1]["code"], amount=11, captured=10)
    elif refusal == "merchant_not_active":
        closed = await shop(merchants, realm, name="停业店")
        middle = await capture_item(grouped, closed, v[1]["code"])
        await merchants.set_status(closed.id, "suspended")
    items = [await capture_item(grouped, store, v[0]["code"]), middle, await capture_item(grouped, store, v[2]["code"])]
    if refusal == "twin":
        items = [items[0], items[2], await capture_item(grouped, store, v[2]["code"])]
        expected_status = "issued"
    results = await run_batch(engine, items)
    if refusal == "twin":
        assert [r.get("error") for r in results] == [None, None, "voucher_already_redeemed"]
        assert [(await grouped.get(x["id"]))["status"] for x in v] == ["redeemed", "issued", "redeemed"]
        captured = 20
    else:
        assert [r.get("error") for r in results] == [None, refusal, None]
        assert [(await grouped.get(x["id"]))["status"] for x in v] == ["redeemed", expected_status, "redeemed"]
        captured = 20 + (10 if refusal == "voucher_already_redeemed" else 0)
    assert len(await writing_transactions(engine, "vouchers", [v[0]["id"], v[2]["id"]])) == 2  # one at a time
    merchant_account = await ledger.owned_account(realm, "merchant", "civic", merchant_id=store.id)
    assert merchant_account["balance"] == captured


async def test_captures_and_cancels_of_the_same_vouchers_at_once_settle_each_voucher_once(grouped, merchants,
                                                                                       engine, ledger, realm):
    """A batch takes the hold account before its vouchers' rows; a cancel takes its voucher's
    row first. Racing each other on the same vouchers they may deadlock; PostgreSQL breaks
    it and the loser retries (both run under `db`'s retries), so every voucher ends either
    captured or cancelled, once, and the hold account still matches what is outstanding."""
    await fund_resident(ledger, realm, 1, points=10_000)
    store = await shop(merchants, realm)
    for _ in range(5):
        ready = [await issue(grouped, realm, 10, resident_id=1) for _ in range(6)]
        outcomes = await asyncio.gather(
            *(grouped.redeem(store, voucher["code"], None, f"k-{uuid.uuid4().hex}", "m") for voucher in ready),
            *(grouped.cancel(voucher, "resident") for voucher in ready), return_exceptions=True)
        captures, cancels = outcomes[:len(ready)], outcomes[len(ready):]
        for voucher, captured, cancelled in zip(ready, captures, cancels):
            assert isinstance(captured, dict) != (isinstance(cancelled, dict) and cancelled["status"] == "cancelled"), (
                voucher["id"], captured, cancelled)
            for outcome in (captured, cancelled):
                assert isinstance(outcome, (dict, errors.VoucherAlreadyRedeemed, errors.VoucherCancelled)), outcome

    async def reconciliation(conn):
        return (await conn.execute(text("SELECT difference FROM hold_reconciliation WHERE realm = :realm"),
                                   {"realm": realm})).all()
    assert all(row.difference == 0 for row in await db.read(engine, reconciliation))
