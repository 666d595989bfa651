"""Settlement against a real PostgreSQL: exactly once per merchant and period, lines cut
by entry time, statements signed, and statements + unsettled = captures."""
from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from ledger import errors as ledger_errors
from merchants import errors, model
from tests.merchants_support import RATE_FEN_PER_POINT, fund_resident, services, spend  # noqa: F401
from tests.redemption_support import key_ring  # noqa: F401

CONCURRENT_SETTLES = 8


async def ready(services, realm, kind="general", name="店"):
    await services.settlements.set_rate(realm, RATE_FEN_PER_POINT)
    return await services.merchants.create(realm, kind, name)


def now() -> datetime:
    return datetime.now(timezone.utc)


async def test_a_settlement_moves_captured_points_and_states_every_line(services, ledger, realm):
    shop = await ready(services, realm, "agri_shop", "助农店")
    await fund_resident(ledger, realm, 1, 500)
    await fund_resident(ledger, realm, 1, 300, asset="agri")
    redeemed = [await spend(services, realm, shop, 1, amount) for amount in (40, 60)]
    redeemed.append(await spend(services, realm, shop, 1, 70, asset="agri"))
    settled = await services.settlements.settle(shop["id"], now(), "test", "key-1")
    assert settled["points"] == 170 and settled["amount_fen"] == 170 * RATE_FEN_PER_POINT
    statement = settled["statement"]
    assert statement["totals"]["points_by_asset"] == {"civic": 100, "agri": 70}
    assert statement["totals"]["amount_yuan"] == model.yuan(170 * RATE_FEN_PER_POINT)
    serials = {line["voucher_serial"] for line in statement["lines"]}
    assert len(serials) == 3 and all(len(s) == 32 for s in serials)
    for asset in ("civic", "agri"):
        account = await ledger.owned_account(realm, "merchant", asset, merchant_id=shop["id"])
        assert account["balance"] == 0
        sink = await ledger.system_account(realm, "settled", asset)
        assert sink["balance"] == statement["totals"]["points_by_asset"][asset]
    entry = await ledger.entry(settled["entry_id"])
    assert entry["kind"] == "settle" and len(entry["postings"]) == 4
    assert services.settlements.verify(settled)
    assert await services.settlements.reconciliation_differences(realm) == []


async def test_retries_and_concurrent_calls_settle_a_period_once(services, ledger, realm):
    shop = await ready(services, realm)
    await fund_resident(ledger, realm, 2, 500)
    await spend(services, realm, shop, 2, 90)
    cutoff = now()
    outcomes = await asyncio.gather(*(services.settlements.settle(shop["id"], cutoff, "test", f"key-{i}")
                                      for i in range(CONCURRENT_SETTLES)))
    assert len({o["id"] for o in outcomes}) == 1
    assert sum(not o["replayed"] for o in outcomes) == 1
    twins = await asyncio.gather(*(services.settlements.settle(shop["id"], cutoff, "test", "twin")
                                   for _ in range(CONCURRENT_SETTLES)))
    assert {t["id"] for t in twins} == {outcomes[0]["id"]} and all(t["replayed"] for t in twins)
    again = await services.settlements.settle(shop["id"], cutoff, "test", "key-0")
    assert again["replayed"] and again["id"] == outcomes[0]["id"]
    with pytest.raises(ledger_errors.IdempotencyKeyReused):
        await services.settlements.settle(shop["id"], cutoff + timedelta(microseconds=1), "test", "key-0")
    sink = await ledger.system_account(realm, "settled", "civic")
    assert sink["balance"] == 90
    page = await services.settlements.page(realm, shop["id"], None, None)
    assert len(page.items) == 1


async def test_redemptions_after_the_cutoff_go_to_the_next_period(services, ledger, realm):
    shop = await ready(services, realm)
    await fund_resident(ledger, realm, 3, 500)
    await spend(services, realm, shop, 3, 10)
    cutoff = now()
    await asyncio.sleep(0.01)
    await spend(services, realm, shop, 3, 25)
    first = await services.settlements.settle(shop["id"], cutoff, "test")
    assert first["points"] == 10
    second = await services.settlements.settle(shop["id"], now(), "test")
    assert second["points"] == 25 and second["period_start"] == first["period_end"]
    empty = await services.settlements.settle(shop["id"], now(), "test")
    assert empty["points"] == 0 and empty["entry_id"] is None


async def test_overlapping_gapped_and_future_periods_are_refused(services, ledger, realm):
    shop = await ready(services, realm)
    await fund_resident(ledger, realm, 4, 500)
    await spend(services, realm, shop, 4, 10)
    settled = await services.settlements.settle(shop["id"], now(), "test")
    with pytest.raises(errors.PeriodOverlaps):
        await services.settlements.settle(shop["id"], settled["period_end"] - timedelta(seconds=1), "test")
    tomorrow = (now() + timedelta(days=2)).date()
    with pytest.raises(errors.PeriodFuture):
        await services.settlements.settle(shop["id"], tomorrow, "test")
    with pytest.raises(errors.PeriodGap):
        await services.settlements.settle(shop["id"], now(), "test", period_start=tomorrow)
    yesterday = (now() - timedelta(days=3)).date()
    with pytest.raises(errors.PeriodOverlaps):
        await services.settlements.settle(shop["id"], now(), "test", period_start=yesterday)
    with pytest.raises(errors.MerchantNotFound):
        await services.settlements.settle(999_999_999, now(), "test")
    page = await services.settlements.page(realm, shop["id"], None, None)
    assert len(page.items) == 1


async def test_no_rate_no_settlement(services, ledger, realm):
    shop = await services.merchants.create(realm, "general", "店")
    with pytest.raises(errors.RateNotSet):
        await services.settlements.settle(shop["id"], now(), "test")
    with pytest.raises(errors.InvalidRate):
        await services.settlements.set_rate(realm, 0)


async def test_statements_plus_unsettled_balances_equal_all_captures(services, ledger, realm):
    """Redemptions race settlements; at the end every captured point is in exactly one
    statement or still on a merchant account."""
    rng = random.Random(5)
    shops = [await ready(services, realm, name=f"店{i}") for i in range(3)]
    residents = range(10, 16)
    for resident in residents:
        await fund_resident(ledger, realm, resident, 2_000)

    async def shopping() -> None:
        for _ in range(12):
            await spend(services, realm, rng.choice(shops), rng.choice(residents), rng.randint(1, 50))

    async def settling() -> None:
        for _ in range(4):
            await asyncio.sleep(0.02)
            await services.settlements.settle_realm(realm, now(), "test")

    await asyncio.gather(shopping(), shopping(), settling())
    settled = []
    for shop in shops:
        cursor = None
        while True:
            page = await services.settlements.page(realm, shop["id"], cursor, None)
            settled += page.items
            cursor = page.next_cursor
            if cursor is None:
                break
    stated = sum(s["points"] for s in settled)
    unsettled = 0
    for shop in shops:
        unsettled += (await ledger.owned_account(realm, "merchant", "civic", merchant_id=shop["id"]))["balance"]
    captures = await capture_total(services.engine, realm)
    assert stated + unsettled == captures
    lines = [line for s in settled for line in (await services.settlements.get(s["id"]))["statement"]["lines"]]
    assert len({line["entry_id"] for line in lines}) == len(lines)  # no line in two statements
    assert await services.settlements.reconciliation_differences(realm) == []


async def capture_total(engine, realm) -> int:
    from sqlalchemy import text

    async with engine.connect() as conn:
        return (await conn.execute(text(
            "SELECT coalesce(sum(p.amount), 0) FROM postings p JOIN entries e ON e.realm = p.realm "
            "AND e.id = p.entry_id JOIN accounts a ON a.realm = p.realm AND a.id = p.account_id "
            "WHERE p.realm = :realm AND e.kind = 'capture' AND a.kind = 'merchant'"), {"realm": realm})).scalar_one()


async def test_payment_is_recorded_once(services, ledger, realm):
    shop = await ready(services, realm)
    await fund_resident(ledger, realm, 5, 100)
    await spend(services, realm, shop, 5, 30)
    settled = await services.settlements.settle(shop["id"], now(), "test")
    today = now().date()
    paid = await services.settlements.record_payment(settled["id"], "BANK-001", today)
    assert paid["status"] == "paid" and not paid["replayed"]
    assert (await services.settlements.record_payment(settled["id"], "BANK-001", today))["replayed"]
    with pytest.raises(errors.SettlementAlreadyPaid):
        await services.settlements.record_payment(settled["id"], "BANK-002", today)
    with pytest.raises(errors.InvalidPayment):
        await services.settlements.record_payment(settled["id"], "BANK-003", today + timedelta(days=5))


async def test_the_signature_fails_after_any_edit(services, ledger, realm):
    shop = await ready(services, realm)
    await fund_resident(ledger, realm, 6, 100)
    await spend(services, realm, shop, 6, 30)
    settled = await services.settlements.settle(shop["id"], now(), "test")
    assert services.settlements.verify(settled)
    edits = [lambda s: s["lines"][0].update(points=31), lambda s: s["totals"].update(amount_yuan="9999.00"),
             lambda s: s["merchant"].update(name="别家"), lambda s: s["lines"].append(dict(s["lines"][0])),
             lambda s: s.update(rate_fen_per_point=6)]
    for edit in edits:
        import copy

        forged = copy.deepcopy(settled)
        edit(forged["statement"])
        assert not services.settlements.verify(forged)
        # a forger who also rewrites the stored SHA-256 still lacks the signature
        forged["statement_sha256"] = model.statement_digest(forged["statement"])
        assert not services.settlements.verify(forged)


def test_the_database_keeps_statements_and_refuses_a_second_period_start(app_conn, owner_conn, settled_row):
    settlement_id = settled_row
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_conn.execute("UPDATE settlements SET points = 0 WHERE id = %s", (settlement_id,))
    app_conn.rollback()
    with pytest.raises(psycopg.errors.RaiseException, match="statement_immutable"):
        owner_conn.execute("UPDATE settlements SET statement = '{}' WHERE id = %s", (settlement_id,))
    owner_conn.rollback()
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_conn.execute("DELETE FROM settlements WHERE id = %s", (settlement_id,))
    app_conn.rollback()
    app_conn.execute("UPDATE settlements SET status = 'paid', bank_reference = 'B', paid_on = current_date, "
                     "paid_at = now() WHERE id = %s", (settlement_id,))
    app_conn.commit()
    with pytest.raises(psycopg.errors.RaiseException, match="settlement_already_paid"):
        app_conn.execute("UPDATE settlements SET bank_reference = 'C' WHERE id = %s", (settlement_id,))
    app_conn.rollback()
    with pytest.raises(psycopg.errors.RaiseException, match="settlement_period_overlaps"):
        app_conn.execute(
            "INSERT INTO settlements (realm, merchant_id, period_start, period_end, points, fen_per_point, "
            "amount_fen, statement, statement_sha256, signature, key_id, created_by) "
            "SELECT realm, merchant_id, period_start, now(), 0, 1, 0, '{}', statement_sha256, signature, key_id, "
            "'x' FROM settlements WHERE id = %s", (settlement_id,))
    app_conn.rollback()
    with pytest.raises(psycopg.errors.RaiseException, match="settlement_range_invalid"):
        app_conn.execute("INSERT INTO settlement_accounts (realm, settlement_id, account_id, asset, seq_after, "
                         "seq_through, points) SELECT realm, settlement_id, account_id, asset, 0, seq_through, "
                         "points FROM settlement_accounts WHERE settlement_id = %s", (settlement_id,))
    app_conn.rollback()


@pytest.fixture
async def settled_row(services, ledger, realm):
    shop = await ready(services, realm)
    await fund_resident(ledger, realm, 7, 100)
    await spend(services, realm, shop, 7, 20)
    return (await services.settlements.settle(shop["id"], now(), "test"))["id"]


async def test_the_database_refuses_a_settle_entry_without_its_settlement(services, ledger, realm):
    shop = await ready(services, realm)
    await fund_resident(ledger, realm, 8, 100)
    await spend(services, realm, shop, 8, 20)
    account = await ledger.owned_account(realm, "merchant", "civic", merchant_id=shop["id"])
    sink = await ledger.system_account(realm, "settled", "civic")
    from ledger.model import EntryDraft, Line

    with pytest.raises(errors.SettleWithoutSettlement):
        await ledger.post(EntryDraft(realm=realm, kind="settle", created_by="test",
                                     lines=(Line(account["id"], -20), Line(sink["id"], 20))))
    assert (await ledger.account(account["id"]))["balance"] == 20
    assert await services.settlements.reconciliation_differences(realm) == []
