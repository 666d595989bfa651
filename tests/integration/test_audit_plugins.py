"""The audit's voucher and merchant checks: a clean book passes, a tampered one is named."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

import merchants.audit  # noqa: F401  (registers the merchant checks)
import redemption.audit  # noqa: F401  (registers the voucher checks)
from ledger import audit
from tests.integration.test_audit import failures, tamper  # noqa: F401
from tests.merchants_support import RATE_FEN_PER_POINT, fund_resident, services, spend  # noqa: F401
from tests.redemption_support import key_ring  # noqa: F401

PLUGGED = {"hold_equals_outstanding_vouchers", "vouchers_closed_once",
           "merchant_balances_equal_captures_minus_settlements"}


@pytest.fixture
async def shop_book(services, ledger, realm):
    """A shop with a settled redemption, an unsettled one, and an outstanding voucher."""
    await services.settlements.set_rate(realm, RATE_FEN_PER_POINT)
    shop = await services.merchants.create(realm, "general", "店")
    await fund_resident(ledger, realm, 1, 500)
    await spend(services, realm, shop, 1, 40)
    settled = await services.settlements.settle(shop["id"], datetime.now(timezone.utc), "test", "settle-1")
    await spend(services, realm, shop, 1, 25)
    outstanding = await services.vouchers.issue(realm, 1, "civic", 30, None, None, "issue-open", "test")
    return {"shop": shop, "settlement": settled, "outstanding": outstanding}


async def test_a_clean_book_with_vouchers_and_settlements_passes(engine, keys, realm, shop_book):
    report = await audit.run_audit(engine, realm)
    assert report.ok, report.as_json()
    assert PLUGGED <= {r.name for r in report.results}


async def test_a_voucher_closed_behind_the_books_is_named(engine, keys, realm, shop_book, owner_conn):
    voucher = shop_book["outstanding"]
    tamper(owner_conn, "UPDATE vouchers SET status = 'redeemed', captured_amount = amount, closed_at = now()"
                       " WHERE realm = %s AND id = %s", realm, voucher["id"])
    found = await failures(engine, keys, realm)
    [hold] = found["hold_equals_outstanding_vouchers"]
    assert (hold["hold_balance"], hold["outstanding"]) == (30, 0)
    assert [row["voucher_id"] for row in found["vouchers_closed_once"]] == [voucher["id"]]
    # put it back: the suite checks every realm's hold account after each test
    tamper(owner_conn, "UPDATE vouchers SET status = 'issued', captured_amount = NULL, closed_at = NULL"
                       " WHERE realm = %s AND id = %s", realm, voucher["id"])
    assert (await failures(engine, keys, realm)) == {}


async def test_a_statement_that_states_other_points_is_named(engine, keys, realm, shop_book, owner_conn):
    settlement = shop_book["settlement"]
    tamper(owner_conn, "UPDATE settlement_accounts SET points = points + 1 WHERE realm = %s AND settlement_id = %s",
           realm, settlement["id"])
    found = await failures(engine, keys, realm)
    [row] = found["merchant_balances_equal_captures_minus_settlements"]
    assert row["merchant_id"] == shop_book["shop"]["id"] and row["stated"] == row["settled"] + 1
