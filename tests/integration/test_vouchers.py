"""Vouchers against a real PostgreSQL: hold, capture, release, and the invariants."""
from __future__ import annotations

import asyncio
import random
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from ledger import errors as ledger_errors
from redemption import codec, errors
from tests.redemption_support import (balance, clock, fund_resident, key_ring, merchants, shop,  # noqa: F401
                                      vouchers)

CONCURRENT_REDEMPTIONS = 50


def move_expiry(owner_conn, voucher_id: int, from_now: str) -> None:
    """Bring a voucher's expiry near (as the owner, triggers off for this one write)."""
    owner_conn.execute("SET LOCAL session_replication_role = replica")
    owner_conn.execute("UPDATE vouchers SET expires_at = now() + %s::interval WHERE id = %s",
                       (from_now, voucher_id))
    owner_conn.commit()


async def issue(vouchers, realm, amount=100, merchant=None, kind=None, key=None, resident_id=7, asset="civic"):
    return await vouchers.issue(realm, resident_id, asset, amount, merchant, kind,
                                key or f"issue-{uuid.uuid4().hex}", "test")


async def test_issue_holds_points_and_redeem_moves_them_to_the_merchant(vouchers, merchants, ledger, realm):
    wallet = await fund_resident(ledger, realm, 7)
    store = await shop(merchants, realm)
    voucher = await issue(vouchers, realm, 300, store)
    hold = await ledger.system_account(realm, "hold", "civic")
    assert await balance(ledger, wallet["id"]) == 700 and hold["balance"] == 300
    assert voucher["status"] == "issued" and voucher["code"].startswith("PB1:")
    redemption = await vouchers.redeem(store, voucher["code"], None, "r-1", "merchant:1")
    merchant_account = await ledger.owned_account(realm, "merchant", "civic", merchant_id=store.id)
    assert redemption["amount"] == 300 and merchant_account["balance"] == 300
    assert (await ledger.system_account(realm, "hold", "civic"))["balance"] == 0
    entry = await ledger.entry(redemption["entry_id"])
    assert entry["kind"] == "capture" and entry["reference"] == f"voucher:{voucher['serial'].hex()}"
    assert (await vouchers.get(voucher["id"]))["status"] == "redeemed"


async def test_partial_capture_returns_the_rest_at_once(vouchers, merchants, ledger, realm):
    wallet = await fund_resident(ledger, realm, 7)
    store = await shop(merchants, realm)
    voucher = await issue(vouchers, realm, 100)
    await vouchers.redeem(store, voucher["code"], 30, "r-1", "m")
    assert await balance(ledger, wallet["id"]) == 970
    closed = await vouchers.get(voucher["id"])
    assert closed["status"] == "partially_redeemed" and closed["captured_amount"] == 30
    with pytest.raises(errors.VoucherAlreadyRedeemed):
        await vouchers.redeem(store, voucher["code"], 10, "r-2", "m")


async def test_a_replayed_key_answers_the_first_result_and_another_body_is_refused(vouchers, merchants, ledger, realm):
    await fund_resident(ledger, realm, 7)
    store = await shop(merchants, realm)
    first = await issue(vouchers, realm, 50, key="same")
    again = await issue(vouchers, realm, 50, key="same")
    assert again["id"] == first["id"] and again["replayed"]
    with pytest.raises(ledger_errors.IdempotencyKeyReused):
        await issue(vouchers, realm, 51, key="same")
    taken = await vouchers.redeem(store, first["code"], None, "k", "m")
    retried = await vouchers.redeem(store, first["code"], None, "k", "m")
    assert retried["id"] == taken["id"] and retried["replayed"]
    with pytest.raises(ledger_errors.IdempotencyKeyReused):
        await vouchers.redeem(store, first["code"], 10, "k", "m")


async def test_refusals_leave_the_ledger_unchanged(vouchers, merchants, ledger, realm, clock):
    wallet = await fund_resident(ledger, realm, 7)
    store = await shop(merchants, realm)
    other = await shop(merchants, realm, name="别家")
    agri = await shop(merchants, realm, "agri_shop", "助农店")
    for_store = await issue(vouchers, realm, 100, store)
    for_agri_kind = await issue(vouchers, realm, 100, kind="agri_shop")
    hold = await ledger.system_account(realm, "hold", "civic")
    cases = [
        (errors.VoucherScopeMismatch, other, for_store["code"], None),
        (errors.VoucherKindMismatch, store, for_agri_kind["code"], None),
        (errors.VoucherAmountExceeded, store, for_store["code"], 101),
        (errors.VoucherAmountInvalid, store, for_store["code"], 0),
        (errors.VoucherAmountInvalid, store, for_store["code"], -5),
        (errors.VoucherPrefixInvalid, store, "XX1:" + for_store["code"][4:], None),
        (errors.VoucherCodeMalformed, store, for_store["code"][:-3], None),
    ]
    for expected, merchant, code, amount in cases:
        with pytest.raises(expected):
            await vouchers.redeem(merchant, code, amount, "refused", "m")
    suspended = store.__class__(store.id, store.realm, store.kind, "suspended")
    with pytest.raises(errors.MerchantNotActive):
        await vouchers.redeem(suspended, for_store["code"], None, "refused", "m")
    clock.offset = timedelta(days=40)
    with pytest.raises(errors.VoucherExpired):
        await vouchers.redeem(store, for_store["code"], None, "refused", "m")
    assert (await ledger.account(hold["id"]))["balance"] == hold["balance"] == 200
    assert await balance(ledger, wallet["id"]) == 800
    assert agri.kind == "agri_shop"


async def test_agri_points_need_an_agri_shop_scope(vouchers, merchants, ledger, realm):
    await fund_resident(ledger, realm, 7, asset="agri")
    store = await shop(merchants, realm)
    agri = await shop(merchants, realm, "agri_shop", "助农店")
    for merchant, kind in ((None, None), (store, None), (None, "general")):
        with pytest.raises(errors.AgriScopeRequired):
            await issue(vouchers, realm, 10, merchant, kind, asset="agri")
    voucher = await issue(vouchers, realm, 10, agri, asset="agri")
    await vouchers.redeem(agri, voucher["code"], None, "k", "m")
    assert (await ledger.owned_account(realm, "merchant", "agri", merchant_id=agri.id))["balance"] == 10


async def test_insufficient_points_and_the_outstanding_limit(vouchers, ledger, realm):
    await fund_resident(ledger, realm, 7, points=100)
    with pytest.raises(ledger_errors.InsufficientPoints):
        await issue(vouchers, realm, 101)
    await vouchers.set_policy(realm, 30, 2)
    await issue(vouchers, realm, 10)
    await issue(vouchers, realm, 10)
    with pytest.raises(errors.VoucherLimitReached):
        await issue(vouchers, realm, 10)


async def test_the_outstanding_limit_holds_under_concurrency(vouchers, ledger, realm):
    await fund_resident(ledger, realm, 7)
    await vouchers.set_policy(realm, 30, 3)
    results = await asyncio.gather(*(issue(vouchers, realm, 5, key=f"k{i}") for i in range(12)),
                                   return_exceptions=True)
    assert sum(isinstance(r, dict) for r in results) == 3
    assert all(isinstance(r, (dict, errors.VoucherLimitReached)) for r in results)


async def test_expiry_is_the_end_of_the_last_day_in_the_realm_time_zone(vouchers, ledger, realm):
    await fund_resident(ledger, realm, 7)
    voucher = await issue(vouchers, realm, 10)
    local = voucher["expires_at"].astimezone(ZoneInfo("Asia/Shanghai"))
    assert (local.hour, local.minute, local.second) == (0, 0, 0)
    assert timedelta(days=30) < voucher["expires_at"] - voucher["created_at"] <= timedelta(days=31)


async def test_fifty_concurrent_redemptions_capture_once(vouchers, merchants, ledger, realm):
    await fund_resident(ledger, realm, 7)
    store = await shop(merchants, realm)
    voucher = await issue(vouchers, realm, 100)
    results = await asyncio.gather(*(vouchers.redeem(store, voucher["code"], None, f"k{i}", "m")
                                     for i in range(CONCURRENT_REDEMPTIONS)), return_exceptions=True)
    won = [r for r in results if isinstance(r, dict)]
    assert len(won) == 1
    assert all(isinstance(r, errors.VoucherAlreadyRedeemed) for r in results if not isinstance(r, dict))
    assert (await ledger.owned_account(realm, "merchant", "civic", merchant_id=store.id))["balance"] == 100


async def test_redemption_racing_cancel_one_wins(vouchers, merchants, ledger, realm):
    wallet = await fund_resident(ledger, realm, 7)
    store = await shop(merchants, realm)
    for round_ in range(10):
        voucher = await issue(vouchers, realm, 10)
        redeemed, cancelled = await asyncio.gather(
            vouchers.redeem(store, voucher["code"], None, f"k{round_}", "m"),
            vouchers.cancel(voucher, "resident"), return_exceptions=True)
        outcomes = {type(redeemed).__name__, type(cancelled).__name__}
        assert outcomes in ({"dict", "VoucherCancelled"}, {"VoucherAlreadyRedeemed", "dict"}), outcomes
        status = (await vouchers.get(voucher["id"]))["status"]
        assert status == ("redeemed" if isinstance(redeemed, dict) else "cancelled")
    merchant_points = (await ledger.owned_account(realm, "merchant", "civic", merchant_id=store.id))["balance"]
    assert await balance(ledger, wallet["id"]) + merchant_points == 1000


async def test_redemption_racing_expiry_one_wins(vouchers, merchants, ledger, realm, owner_conn):
    wallet = await fund_resident(ledger, realm, 7)
    store = await shop(merchants, realm)
    rng = random.Random(4)
    for round_ in range(8):
        voucher = await issue(vouchers, realm, 10)
        move_expiry(owner_conn, voucher["id"], "20 milliseconds")

        async def redeem_later():
            await asyncio.sleep(rng.uniform(0, 0.04))
            try:
                return await vouchers.redeem(store, voucher["code"], None, f"k{round_}", "m")
            except errors.VoucherExpired as exc:
                return exc

        async def expire_later():
            await asyncio.sleep(rng.uniform(0, 0.04))
            return await vouchers.expire_due()

        redeemed, released = await asyncio.gather(redeem_later(), expire_later())
        status = (await vouchers.get(voucher["id"]))["status"]
        if status == "issued":  # expiry passed after the sweep looked: sweep again
            released += await vouchers.expire_due()
            status = "expired"
        assert (await vouchers.get(voucher["id"]))["status"] == status
        assert isinstance(redeemed, dict) == (status == "redeemed") and status in ("redeemed", "expired")
    merchant_points = (await ledger.owned_account(realm, "merchant", "civic", merchant_id=store.id))["balance"]
    assert await balance(ledger, wallet["id"]) + merchant_points == 1000


async def test_expire_releases_to_the_resident_once(vouchers, ledger, realm, owner_conn):
    wallet = await fund_resident(ledger, realm, 7)
    voucher = await issue(vouchers, realm, 40)
    move_expiry(owner_conn, voucher["id"], "-1 second")
    seen = []
    assert await vouchers.expire_due(progress=lambda done, total: seen.append(done)) >= 1
    assert await vouchers.expire_due() == 0
    assert (await vouchers.get(voucher["id"]))["status"] == "expired" and seen
    assert await balance(ledger, wallet["id"]) == 1000
    with pytest.raises(errors.VoucherExpired):
        await vouchers.cancel(voucher, "resident")


async def test_cancel_twice_releases_once(vouchers, ledger, realm):
    wallet = await fund_resident(ledger, realm, 7)
    voucher = await issue(vouchers, realm, 40)
    first = await vouchers.cancel(voucher, "resident")
    again = await vouchers.cancel(voucher, "resident")
    assert first["status"] == again["status"] == "cancelled" and again["replayed"]
    assert await balance(ledger, wallet["id"]) == 1000


async def test_cross_realm_redemption_goes_through_clearing_accounts(vouchers, merchants, ledger, realm):
    from tests.conftest import new_realm_code

    other = new_realm_code()
    await ledger.open_realm(other, "邻县")
    await fund_resident(ledger, realm, 7)
    store = await shop(merchants, other)
    voucher = await issue(vouchers, realm, 60)
    redemption = await vouchers.redeem(store, voucher["code"], 50, "k", "m")
    assert (await ledger.owned_account(other, "merchant", "civic", merchant_id=store.id))["balance"] == 50
    clear = await ledger.entry(redemption["clear_entry_id"])
    assert clear["realm"] == other and clear["kind"] == "clear"
    capture = await ledger.entry(redemption["entry_id"])
    assert capture["realm"] == realm and len(capture["postings"]) == 3


async def test_offline_batch_captures_duplicates_once(vouchers, merchants, ledger, realm):
    await fund_resident(ledger, realm, 7)
    store = await shop(merchants, realm)
    mine = [await issue(vouchers, realm, 10, store) for _ in range(3)]
    anywhere = await issue(vouchers, realm, 10)
    batch = [(v["code"], None) for v in mine] + [(mine[0]["code"], None), (anywhere["code"], None)]
    first = await vouchers.redeem_batch(store, batch, "m")
    assert [r["status"] for r in first] == ["captured"] * 4 + ["refused"]
    assert first[3]["id"] == first[0]["id"] and first[3]["replayed"]
    assert first[4]["code"] == "voucher_not_offline"
    second = await vouchers.redeem_batch(store, [(mine[1]["code"], None), (mine[2]["code"], 5)], "m")
    assert second[0]["replayed"] and second[0]["id"] == first[1]["id"]
    assert second[1]["code"] == "voucher_already_redeemed"
    assert (await ledger.owned_account(realm, "merchant", "civic", merchant_id=store.id))["balance"] == 30


async def test_short_code_finds_the_voucher(vouchers, merchants, ledger, realm):
    await fund_resident(ledger, realm, 7)
    store = await shop(merchants, realm)
    voucher = await issue(vouchers, realm, 10)
    typed = codec.format_short_code(voucher["short_code"]).lower()
    assert await vouchers.code_for_short_code(typed) == voucher["code"]


async def test_a_short_code_issued_before_the_new_check_still_finds_its_voucher(
        vouchers, merchants, ledger, realm, monkeypatch):
    await fund_resident(ledger, realm, 7)
    monkeypatch.setattr(codec, "short_code", codec.legacy_short_code)  # as issued before
    old = await issue(vouchers, realm, 10)
    monkeypatch.undo()
    typed = codec.format_short_code(old["short_code"])
    assert await vouchers.code_for_short_code(typed) == old["code"]
    typos = [first + old["short_code"][1:] for first in codec.CROCKFORD if first != old["short_code"][0]]
    typo = next(t for t in typos if not _passes_new_check(t))
    with pytest.raises(errors.ShortCodeInvalid):  # a typo is still a typo, not "not found"
        await vouchers.code_for_short_code(typo)


def _passes_new_check(typed: str) -> bool:
    try:
        codec.parse_short_code(typed)
    except errors.ShortCodeInvalid:
        return False
    return True


def test_the_app_role_cannot_delete_or_reopen_a_voucher(app_conn, realm_with_voucher):
    voucher_id = realm_with_voucher
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_conn.execute("DELETE FROM vouchers WHERE id = %s", (voucher_id,))
    app_conn.rollback()
    with pytest.raises(psycopg.errors.RaiseException, match="voucher_closed"):
        app_conn.execute("UPDATE vouchers SET status = 'issued', closed_at = NULL, captured_amount = NULL "
                         "WHERE id = %s", (voucher_id,))
    app_conn.rollback()
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_conn.execute("UPDATE vouchers SET amount = 1 WHERE id = %s", (voucher_id,))
    app_conn.rollback()


def test_a_status_change_without_its_release_entry_is_refused_at_commit(app_conn, open_voucher):
    app_conn.execute("UPDATE vouchers SET status = 'cancelled', closed_at = now() WHERE id = %s", (open_voucher,))
    with pytest.raises(psycopg.errors.RaiseException, match="hold_mismatch"):
        app_conn.commit()


@pytest.fixture
async def open_voucher(vouchers, ledger, realm):
    await fund_resident(ledger, realm, 7)
    return (await issue(vouchers, realm, 10))["id"]


@pytest.fixture
async def realm_with_voucher(vouchers, ledger, realm):
    await fund_resident(ledger, realm, 7)
    voucher = await issue(vouchers, realm, 10)
    await vouchers.cancel(voucher, "resident")
    return voucher["id"]


async def test_a_replay_answers_the_first_result_after_expiry_or_suspension(vouchers, merchants, ledger, realm, clock):
    await fund_resident(ledger, realm, 7)
    store = await shop(merchants, realm)
    voucher = await issue(vouchers, realm, 10)
    first = await vouchers.redeem(store, voucher["code"], None, "once", "m")
    clock.offset = timedelta(days=40)
    suspended = store.__class__(store.id, store.realm, store.kind, "suspended")
    again = await vouchers.redeem(suspended, voucher["code"], None, "once", "m")
    assert again["id"] == first["id"] and again["replayed"]
    with pytest.raises(errors.MerchantNotActive):
        await vouchers.redeem(suspended, voucher["code"], None, "another", "m")


async def test_the_database_refuses_a_redemption_for_a_merchant_suspended_meanwhile(
        vouchers, merchants, ledger, realm):
    """The service's own merchant check may read a briefly cached merchant; the capture
    itself refuses an inactive one, on every path, and changes nothing."""
    wallet = await fund_resident(ledger, realm, 7)
    store = await shop(merchants, realm)
    voucher = await issue(vouchers, realm, 100, store)
    await merchants.set_status(store.id, "suspended")
    stale_view = store  # still says "active"
    with pytest.raises(errors.MerchantNotActive):
        await vouchers.redeem(stale_view, voucher["code"], None, "stale", "m")
    assert (await vouchers.get(voucher["id"]))["status"] == "issued"
    assert await balance(ledger, wallet["id"]) == 900


async def test_issues_captures_and_cancels_at_once_never_deadlock(vouchers, merchants, ledger, realm, owner_conn):
    """They all touch the realm's hold account and its outstanding total: one lock order
    for all of them, so the database never has to break a deadlock (a retry would hide
    it from callers, so count them where PostgreSQL does)."""
    def deadlocks() -> int:
        return owner_conn.execute(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]

    for resident_id in range(1, 7):
        await fund_resident(ledger, realm, resident_id)
    store = await shop(merchants, realm)
    ready = [await issue(vouchers, realm, 10, store, resident_id=r) for r in range(1, 7) for _ in range(3)]
    owner_conn.execute("SELECT pg_stat_clear_snapshot()")
    before = deadlocks()
    await asyncio.gather(
        *(issue(vouchers, realm, 5, store, resident_id=r) for r in range(1, 7) for _ in range(2)),
        *(vouchers.redeem(store, v["code"], None, f"mixed-{i}", "m") for i, v in enumerate(ready[::2])),
        *(vouchers.cancel(v, "r") for v in ready[1::2]))
    await asyncio.sleep(0.6)  # statistics reach pg_stat_database within half a second
    owner_conn.execute("SELECT pg_stat_clear_snapshot()")
    assert deadlocks() == before


@pytest.mark.parametrize("change", [+50, -50], ids=["more", "less"])
async def test_a_resigned_code_with_another_amount_moves_nothing(vouchers, merchants, ledger, realm, key_ring,
                                                                 change):
    """Signed with the real voucher key but not what was issued under its serial: a
    mapped refusal on both capture paths (never a check-constraint 500), nothing moves."""
    from dataclasses import replace

    wallet = await fund_resident(ledger, realm, 7)
    store = await shop(merchants, realm)
    voucher = await issue(vouchers, realm, 100, store)
    token = replace(codec.decode(voucher["code"]), amount=100 + change)
    _, signature = key_ring.sign("voucher", token.body())
    with pytest.raises(errors.VoucherCodeMismatch):
        await vouchers.redeem(store, codec.encode(replace(token, signature=signature)), None, "forged", "merchant:1")
    assert (await vouchers.get(voucher["id"]))["status"] == "issued"
    assert await balance(ledger, wallet["id"]) == 900


def test_the_outstanding_limit_counts_issued_vouchers_only(database_url):
    """`vouchers_admit` counts a resident's issued vouchers through the partial index
    (revision 0017), whatever the resident's history holds."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        conn.execute("SET enable_seqscan = off")
        plan = conn.execute("EXPLAIN (FORMAT JSON) SELECT count(*) FROM vouchers v WHERE v.realm = '430000' "
                            "AND v.resident_id = 1 AND v.status = 'issued'").fetchone()[0]
    assert "vouchers_resident_outstanding" in str(plan)
