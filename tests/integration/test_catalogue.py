"""Rewards catalogue against a real PostgreSQL: stock reserved with the voucher, returned
on cancel or expiry, never below zero under concurrency."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import psycopg
import pytest

from api.catalogue_redemption import ItemTaken
from ledger import errors as ledger_errors
from merchants import errors
from tests.merchants_support import fund_resident, services, take  # noqa: F401
from tests.redemption_support import key_ring  # noqa: F401

RACING_RESIDENTS = 100
STOCK = 10


async def test_a_hundred_residents_racing_for_ten_items_get_exactly_ten_vouchers(services, ledger, realm):
    shop = await services.merchants.create(realm, "general", "米店")
    item = await services.catalogue.create_item(shop["id"], "一袋米", 100, stock=STOCK)
    residents = range(1, RACING_RESIDENTS + 1)
    await asyncio.gather(*(fund_resident(ledger, realm, r, 150) for r in residents))
    outcomes = await asyncio.gather(*(take(services, item["id"], realm, r) for r in residents),
                                    return_exceptions=True)
    won = [o for o in outcomes if isinstance(o, ItemTaken)]
    refused = [o for o in outcomes if not isinstance(o, ItemTaken)]
    assert len(won) == STOCK
    assert all(isinstance(o, errors.OutOfStock) for o in refused), refused[:3]
    assert (await services.catalogue.item(item["id"]))["stock"] == 0
    hold = await ledger.system_account(realm, "hold", "civic")
    assert hold["balance"] == STOCK * 100
    assert {o.voucher["scope_merchant_id"] for o in won} == {shop["id"]}
    assert len({o.voucher["resident_id"] for o in won}) == STOCK
    for outcome in won:
        assert outcome.reservation["voucher_id"] == outcome.voucher["id"]


async def test_cancel_returns_the_stock_once_and_a_replay_takes_none(services, ledger, realm):
    shop = await services.merchants.create(realm, "general", "店")
    item = await services.catalogue.create_item(shop["id"], "毛巾", 30, stock=1)
    await fund_resident(ledger, realm, 5, 100)
    first = await take(services, item["id"], realm, 5, key="same-key")
    again = await take(services, item["id"], realm, 5, key="same-key")
    assert again.replayed and again.voucher["id"] == first.voucher["id"]
    assert (await services.catalogue.item(item["id"]))["stock"] == 0
    with pytest.raises(errors.OutOfStock):
        await take(services, item["id"], realm, 5)
    await services.vouchers.cancel(first.voucher, "test")
    await services.vouchers.cancel(first.voucher, "test")  # answered again, stock not returned twice
    assert (await services.catalogue.item(item["id"]))["stock"] == 1
    reservation = await services.catalogue.reservation(realm, first.voucher["id"])
    assert reservation["returned_at"] is not None


async def test_same_key_for_another_item_is_refused(services, ledger, realm):
    shop = await services.merchants.create(realm, "general", "店")
    towel = await services.catalogue.create_item(shop["id"], "毛巾", 30, stock=5)
    soap = await services.catalogue.create_item(shop["id"], "肥皂", 30, stock=5)
    await fund_resident(ledger, realm, 6, 100)
    await take(services, towel["id"], realm, 6, key="k-1")
    with pytest.raises(ledger_errors.IdempotencyKeyReused):
        await take(services, soap["id"], realm, 6, key="k-1")
    assert (await services.catalogue.item(soap["id"]))["stock"] == 5


async def test_expiry_returns_the_stock(services, ledger, realm, owner_conn):
    shop = await services.merchants.create(realm, "general", "店")
    item = await services.catalogue.create_item(shop["id"], "油", 40, stock=2)
    await fund_resident(ledger, realm, 8, 100)
    taken = await take(services, item["id"], realm, 8)
    owner_conn.execute("SET LOCAL session_replication_role = replica")
    owner_conn.execute("UPDATE vouchers SET expires_at = now() - interval '1 second' WHERE id = %s",
                       (taken.voucher["id"],))
    owner_conn.commit()
    assert await services.vouchers.expire_due() >= 1
    assert (await services.catalogue.item(item["id"]))["stock"] == 2


async def test_redeemed_voucher_keeps_the_stock_taken(services, ledger, realm):
    from tests.merchants_support import redeem

    shop = await services.merchants.create(realm, "general", "店")
    item = await services.catalogue.create_item(shop["id"], "茶", 20, stock=3)
    await fund_resident(ledger, realm, 9, 100)
    taken = await take(services, item["id"], realm, 9)
    await redeem(services, shop, taken.voucher["code"])
    assert (await services.catalogue.item(item["id"]))["stock"] == 2


async def test_bad_items_and_unavailable_ones_are_refused_with_nothing_changed(services, ledger, realm):
    shop = await services.merchants.create(realm, "general", "店")
    for price in (0, -5, 2.5, True):
        with pytest.raises(errors.InvalidPrice):
            await services.catalogue.create_item(shop["id"], "x", price)
    with pytest.raises(errors.AgriNeedsAgriShop):
        await services.catalogue.create_item(shop["id"], "菜", 10, asset="agri")
    with pytest.raises(errors.MerchantNotFound):
        await services.catalogue.create_item(999_999_999, "x", 10)
    item = await services.catalogue.create_item(shop["id"], "灯", 10, stock=4)
    await fund_resident(ledger, realm, 3, 100)
    await services.merchants.set_status(shop["id"], "closed")
    with pytest.raises(errors.MerchantNotActive):
        await take(services, item["id"], realm, 3)
    assert (await services.catalogue.item(item["id"]))["stock"] == 4
    wallet = await ledger.owned_account(realm, "resident", "civic", resident_id=3)
    assert wallet["balance"] == 100


async def test_not_enough_points_keeps_the_stock(services, ledger, realm):
    shop = await services.merchants.create(realm, "general", "店")
    item = await services.catalogue.create_item(shop["id"], "锅", 500, stock=1)
    await fund_resident(ledger, realm, 4, 100)
    with pytest.raises(ledger_errors.InsufficientPoints):
        await take(services, item["id"], realm, 4)
    assert (await services.catalogue.item(item["id"]))["stock"] == 1


async def test_inactive_or_outside_its_window_is_not_offered(services, ledger, realm):
    shop = await services.merchants.create(realm, "general", "店")
    later = services.clock() + timedelta(days=1)
    future = await services.catalogue.create_item(shop["id"], "月饼", 10, active_from=later)
    paused = await services.catalogue.create_item(shop["id"], "粽子", 10)
    await services.catalogue.change_item(paused["id"], None, False)
    await fund_resident(ledger, realm, 2, 100)
    for item in (future, paused):
        with pytest.raises(errors.ItemNotAvailable):
            await take(services, item["id"], realm, 2)
    page = await services.catalogue.rewards(realm, None, None, None, None)
    assert [i["id"] for i in page.items] == []


async def test_rewards_list_the_callers_station_first(services, realm):
    far = await services.merchants.create(realm, "general", "远店", station_id=1)
    near = await services.merchants.create(realm, "agri_shop", "近店", station_id=2)
    far_items = [await services.catalogue.create_item(far["id"], f"远{i}", 10) for i in range(3)]
    near_items = [await services.catalogue.create_item(near["id"], f"近{i}", 10, asset="agri") for i in range(2)]
    seen, cursor = [], None
    while True:
        page = await services.catalogue.rewards(realm, None, 2, cursor, 2)
        seen += [i["id"] for i in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [i["id"] for i in near_items] + [i["id"] for i in far_items]
    agri_only = await services.catalogue.rewards(realm, "agri_shop", None, None, None)
    assert [i["id"] for i in agri_only.items] == [i["id"] for i in near_items]


def test_the_database_refuses_negative_stock_and_changed_prices(app_conn, owner_conn, realm_with_item):
    realm, item_id = realm_with_item
    with pytest.raises(psycopg.errors.CheckViolation):
        app_conn.execute("UPDATE catalogue_items SET stock = -1 WHERE id = %s", (item_id,))
    app_conn.rollback()
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_conn.execute("UPDATE catalogue_items SET price = 1 WHERE id = %s", (item_id,))
    app_conn.rollback()
    with pytest.raises(psycopg.errors.RaiseException, match="catalogue_item_immutable"):
        owner_conn.execute("UPDATE catalogue_items SET price = 1 WHERE id = %s", (item_id,))
    owner_conn.rollback()
    with pytest.raises(psycopg.errors.CheckViolation):
        app_conn.execute("INSERT INTO catalogue_items (realm, merchant_id, name, price, asset) "
                         "SELECT realm, merchant_id, 'x', 0, 'civic' FROM catalogue_items WHERE id = %s", (item_id,))
    app_conn.rollback()
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_conn.execute("UPDATE catalogue_reservations SET returned_at = now()")
    app_conn.rollback()


@pytest.fixture
async def realm_with_item(services, realm):
    shop = await services.merchants.create(realm, "general", "店")
    item = await services.catalogue.create_item(shop["id"], "米", 10, stock=1)
    return realm, item["id"]
