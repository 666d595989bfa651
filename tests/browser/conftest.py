"""Browser tests: a real headless Chromium (Debian's package, driven by Playwright) against
`pointsbank serve` in a subprocess on the test database.

Without /usr/bin/chromium these tests skip locally with a reason, but fail in CI (the
`CI` variable set): .ci/run installs chromium first, so a missing browser there is a bug.
Never `playwright install`: it downloads a browser build of its own."""
from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from api.auth import create_token
from bench.harness import served_app
from earning.service import Earning
from ledger import model as ledger_model
from merchants.service import Merchants

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
STARTING_POINTS = 1_000
WAIT_MS = 30_000           # the longest a test waits for one thing on a page (a slow machine, Chromium cold)
BROWSER_TIME_ZONE = "America/New_York"   # not the realm's: the pages show the realm's time


def need_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing (apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"browser tests need {reason}; .ci/run installs it", pytrace=False)
    pytest.skip(f"browser tests skipped locally: {reason}")


@pytest.fixture(scope="session")
def base_url(database_url: str, tmp_path_factory, key_dir) -> Iterator[str]:
    need_chromium()
    data_dir = tmp_path_factory.mktemp("served")
    # the session's keys: `serve` seals every 10 s, and the key registry lets one ledger
    # key seal a database (a second one would be refused, and once broke the audit)
    # no webhook sender: the integration tests of webhooks share this database and send their own
    with served_app(database_url, key_dir, POINTSBANK_DATA_DIR=str(data_dir), POINTSBANK_WEBHOOK_INTERVAL_S="0") as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
async def browser(base_url: str) -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def new_page(browser, base_url: str):
    """Pages in fresh browser contexts (own localStorage), each recording every request
    it makes so a test can check that nothing is loaded from elsewhere."""
    contexts = []

    async def open_page(path: str):
        context = await browser.new_context(base_url=base_url, viewport={"width": 390, "height": 844},
                                            device_scale_factor=2, timezone_id=BROWSER_TIME_ZONE)
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        page = await context.new_page()
        page.requested = []
        page.on("request", lambda request: page.requested.append(request.url))
        await page.goto(path)
        return page

    yield open_page
    for context in contexts:
        await context.close()


@dataclass
class World:
    """One realm: a registered resident with points, an active merchant, and tokens."""
    realm: str
    resident_id: int
    civic_account_id: int
    merchant_id: int
    merchant_civic_account_id: int
    resident_token: str
    merchant_token: str
    auditor_token: str


async def give_points(ledger, realm: str, account_id: int, points: int) -> None:
    funding = await ledger.system_account(realm, "funding", "civic")
    budget = await ledger.system_account(realm, "budget", "civic")
    await ledger.post(ledger_model.EntryDraft(
        realm=realm, kind="fund", created_by="test",
        lines=(ledger_model.Line(funding["id"], -points), ledger_model.Line(budget["id"], points))))
    await ledger.post(ledger_model.EntryDraft(
        realm=realm, kind="earn", created_by="test",
        lines=(ledger_model.Line(budget["id"], -points), ledger_model.Line(account_id, points))))


@pytest.fixture
async def world(realm: str, engine, ledger) -> World:
    earning = Earning(engine, ledger)
    town = await earning.create_town(realm, "城关镇")
    station = await earning.create_station(realm, town["id"], "城关站", "urban")
    resident = await earning.register_resident(realm, station["id"], "R001", "张三")
    civic = next(a for a in resident["accounts"] if a["asset"] == "civic")
    await give_points(ledger, realm, civic["id"], STARTING_POINTS)
    merchant = await Merchants(engine, ledger).create(realm, "general", "供销超市")
    return World(
        realm=realm, resident_id=resident["id"], civic_account_id=civic["id"], merchant_id=merchant["id"],
        merchant_civic_account_id=merchant["accounts"]["civic"],
        resident_token=await create_token(engine, "resident", realm, resident_id=resident["id"]),
        merchant_token=await create_token(engine, "merchant", realm, merchant_id=merchant["id"]),
        auditor_token=await create_token(engine, "auditor", realm))


async def sign_in(page, token: str) -> None:
    await page.fill("#token", token)
    await page.click("#signin-form button[type=submit]")
    await page.wait_for_selector("#signed-in", state="visible")
