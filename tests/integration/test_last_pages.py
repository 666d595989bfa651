"""Every paged list, at the service level: a last page exactly `limit` long has no
next_cursor (before the paging helper it got one, leading to an empty page), and a
page one short of the items gets a cursor to a last page of one, without a cursor."""
from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from access.model import Holder
from access.service import Access
from ledger import model as ledger_model
from ledger.model import DEFAULT_TIMEZONE
from ledger.checkpoints import Checkpoints
from tests.integration.earning_fixtures import make_place, past_activity
from tests.merchants_support import RATE_FEN_PER_POINT, fund_resident, services, spend  # noqa: F401
from tests.redemption_support import key_ring  # noqa: F401

ITEMS = 3

Fetch = Callable[[str | None, int], Awaitable[tuple[list[Any], str | None]]]


def of_page(call: Callable[[str | None, int], Awaitable[Any]]) -> Fetch:
    async def fetch(cursor: str | None, limit: int) -> tuple[list[Any], str | None]:
        page = await call(cursor, limit)
        if isinstance(page, dict):
            return page["items"], page["next_cursor"]
        if isinstance(page, tuple):
            return page
        return page.items, page.next_cursor
    return fetch


async def assert_pages_end_exactly(fetch: Fetch, count: int = ITEMS) -> None:
    whole, cursor = await fetch(None, count)
    assert len(whole) == count and cursor is None
    first, cursor = await fetch(None, count - 1)
    assert len(first) == count - 1 and cursor is not None
    last, after = await fetch(cursor, count - 1)
    assert len(last) == 1 and after is None
    assert last[0] not in first and [*first, *last] == whole


def now() -> datetime:
    return datetime.now(timezone.utc)


async def awarded_place(earning, realm):
    """ITEMS residents, ITEMS activities, each resident awarded for each activity."""
    place = await make_place(earning, realm, residents=ITEMS)
    activities = [await past_activity(earning, place) for _ in range(ITEMS)]
    for n, activity in enumerate(activities):
        await earning.record_attendance(activity, [(r, 60 + n + i) for i, r in enumerate(place.residents)],
                                        "test", f"att-{n}")
    return place, activities


async def test_earning_lists_end_exactly(earning, realm):
    place, _ = await awarded_place(earning, realm)
    town = (await earning.towns(realm, None, None)).items[0]
    for _ in range(ITEMS - 1):
        await earning.create_town(realm, f"镇{uuid.uuid4().hex[:6]}")
        await earning.create_station(realm, town["id"], f"站{uuid.uuid4().hex[:6]}", "urban")
    # make_place made one town and two stations: now ITEMS towns and ITEMS + 1 stations
    await assert_pages_end_exactly(of_page(lambda c, n: earning.towns(realm, c, n)))
    await assert_pages_end_exactly(of_page(lambda c, n: earning.stations(realm, c, n)), ITEMS + 1)
    await assert_pages_end_exactly(of_page(lambda c, n: earning.residents(realm, place.station_id, c, n)))
    await assert_pages_end_exactly(of_page(lambda c, n: earning.activities(realm, None, c, n)))
    query = {"realm": realm, "statuses": ("draft", "published", "closed"), "ended_since": now() - timedelta(days=1)}
    await assert_pages_end_exactly(of_page(lambda c, n: earning.upcoming(query, c, n)))


async def test_a_residents_lists_end_exactly(earning, realm):
    place, _ = await awarded_place(earning, realm)
    resident = await earning.resident(place.residents[0])
    await assert_pages_end_exactly(of_page(lambda c, n: earning.awards(resident, c, n)))
    await assert_pages_end_exactly(of_page(lambda c, n: earning.resident_activities(resident, c, n)))


async def test_the_leaderboard_ends_exactly(earning, realm):
    _, activities = await awarded_place(earning, realm)
    # the awards' month in the realm's time zone (three hours ago may be last month)
    month = activities[0]["starts_at"].astimezone(ZoneInfo(DEFAULT_TIMEZONE)).strftime("%Y-%m")

    async def board(cursor: str | None, limit: int) -> tuple[list[Any], str | None]:
        found = await earning.leaderboard(realm, None, month, "points", cursor, limit)
        return found["items"], found["next_cursor"]

    await assert_pages_end_exactly(board)


async def fund(ledger, realm: str, points: int) -> int:
    """One fund entry; the budget account's id."""
    budget = await ledger.system_account(realm, "budget", "civic")
    funding = await ledger.system_account(realm, "funding", "civic")
    await ledger.post(ledger_model.EntryDraft(realm=realm, kind="fund", created_by="test", lines=(
        ledger_model.Line(funding["id"], -points), ledger_model.Line(budget["id"], points))))
    return budget["id"]


async def test_a_posting_history_ends_exactly(ledger, realm):
    for n in range(ITEMS):
        budget_id = await fund(ledger, realm, n + 1)
    account = await ledger.account(budget_id)
    await assert_pages_end_exactly(of_page(lambda c, n: ledger.history(account, c, n)))


async def test_checkpoint_heads_end_exactly(engine, ledger, keys, realm):
    checkpoints = Checkpoints(engine, keys)
    for _ in range(ITEMS):
        await fund(ledger, realm, 1)
        assert await checkpoints.seal(realm) is not None
    await assert_pages_end_exactly(of_page(lambda c, n: checkpoints.heads(realm, c, n)))


async def test_merchant_catalogue_and_voucher_lists_end_exactly(services, ledger, realm):
    shops = [await services.merchants.create(realm, "general", f"店{n}") for n in range(ITEMS)]
    for n in range(ITEMS):
        await services.catalogue.create_item(shops[0]["id"], f"物品{n}", 10 + n, stock=5)
    await fund_resident(ledger, realm, 1, 500)
    for n in range(ITEMS):
        await spend(services, realm, shops[0], 1, 10 + n)
    await assert_pages_end_exactly(of_page(lambda c, n: services.merchants.page(realm, c, n)))
    await assert_pages_end_exactly(of_page(lambda c, n: services.catalogue.page(realm, shops[0]["id"], c, n)))
    await assert_pages_end_exactly(of_page(lambda c, n: services.catalogue.rewards(realm, None, None, c, n)))
    await assert_pages_end_exactly(of_page(lambda c, n: services.vouchers.page(realm, 1, None, c, n)))
    merchant = await services.merchants.get(shops[0]["id"])
    await assert_pages_end_exactly(of_page(
        lambda c, n: services.settlements.redemption_lines(merchant, "today", c, n)))


async def test_settlement_lists_end_exactly(services, ledger, realm):
    await services.settlements.set_rate(realm, RATE_FEN_PER_POINT)
    shop = await services.merchants.create(realm, "agri_shop", "助农店")
    await fund_resident(ledger, realm, 2, 500)
    await fund_resident(ledger, realm, 2, 500, asset="agri")
    await spend(services, realm, shop, 2, 10)
    await spend(services, realm, shop, 2, 20, asset="agri")
    for _ in range(ITEMS):
        await asyncio.sleep(0.002)   # each settlement closes a later period
        await services.settlements.settle(shop["id"], now(), "test")
    await assert_pages_end_exactly(of_page(lambda c, n: services.settlements.page(realm, shop["id"], c, n)))
    # this month's agri-shop spending: one row per asset
    await assert_pages_end_exactly(of_page(lambda c, n: services.settlements.agri_spending(realm, c, n)), 2)


async def test_token_lists_end_exactly(engine, realm):
    access = Access(engine)
    for n in range(ITEMS):
        await access.create_token(Holder("auditor", realm), f"auditor {n}", check_holder=False)
    await assert_pages_end_exactly(of_page(lambda c, n: access.tokens({"realm": realm}, c, n)))
