"""Voucher events from the outbox triggers: issued when made, redeemed when captured,
none for a cancellation; voucher.expiring once per voucher, however often the job runs."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from notify.service import Dispatcher
from tests.redemption_support import key_ring, registered_resident, shop  # noqa: F401  (fixtures)
from redemption.service import Vouchers
from merchants.service import Merchants

LONG_HORIZON_S = 400 * 86_400        # past any voucher's lifetime: every issued voucher is "expiring"


async def event_types(engine, realm: str) -> list[tuple[str, int]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT type, subject_id FROM events WHERE realm = :realm ORDER BY id"),
                                  {"realm": realm})
        return [(row.type, row.subject_id) for row in rows]


@pytest.fixture
async def vouchers(engine, ledger, key_ring):  # noqa: F811
    service = Vouchers(engine, ledger, key_ring)
    yield service
    await service.close()


async def test_issue_redeem_and_cancel(engine, ledger, realm, vouchers):
    resident = await registered_resident(engine, ledger, realm)
    merchant = await shop(Merchants(engine, ledger), realm)
    kept = await vouchers.issue(realm, resident, "civic", 10, None, "general", "v-1", "test")
    dropped = await vouchers.issue(realm, resident, "civic", 5, None, "general", "v-2", "test")
    await vouchers.redeem(merchant, kept["code"], None, "r-1", "test")
    await vouchers.cancel(dropped, "test")
    voucher_events = [e for e in await event_types(engine, realm) if e[0].startswith("voucher.")]
    assert voucher_events == [("voucher.issued", kept["id"]), ("voucher.issued", dropped["id"]),
                              ("voucher.redeemed", kept["id"])]


async def test_expiring_is_emitted_once_per_voucher(engine, ledger, realm, vouchers):
    resident = await registered_resident(engine, ledger, realm)
    voucher = await vouchers.issue(realm, resident, "civic", 10, None, "general", "v-3", "test")
    async with engine.begin() as conn:
        first = (await conn.execute(text("SELECT notify_vouchers_expiring(make_interval(secs => :s))"),
                                    {"s": LONG_HORIZON_S})).scalar_one()
        again = (await conn.execute(text("SELECT notify_vouchers_expiring(make_interval(secs => :s))"),
                                    {"s": LONG_HORIZON_S})).scalar_one()
    assert first >= 1 and again == 0
    assert ("voucher.expiring", voucher["id"]) in await event_types(engine, realm)
    assert await Dispatcher(engine).emit_expiring() == 0      # 3 days ahead: a new voucher is not due
