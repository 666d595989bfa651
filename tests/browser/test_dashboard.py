"""The dashboard (admin, auditor) draws its charts with the vendored Apache ECharts, with
no request leaving the service; every chart has a table view and a download; axe finds
no serious violation, on a phone and on a desktop. The inbox badge and list appear on
every signed-in page (here the resident's)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

from api.auth import create_token
from earning.service import Earning
from tests.browser.axe import assert_accessible
from tests.browser.conftest import World, sign_in
from tests.e2e.insight_scene import activity_start

CHARTS = ("participation", "trend", "budget", "satisfaction")
SCREENSHOTS = Path("/tmp/pb-insight-screens")
DESKTOP = {"width": 1280, "height": 900}


async def attended(engine, ledger, world: World) -> None:
    earning = Earning(engine, ledger)
    starts = activity_start()   # inside the realm's current month, which the dashboard shows
    resident = await earning.resident(world.resident_id)
    activity = await earning.create_activity(world.realm, "volunteering", resident["station_id"], "清扫街道",
                                             starts, starts + timedelta(hours=2), "test")
    await earning.fund_budget(world.realm, "civic", 10_000, "test", f"fund-{world.realm}")
    done = await earning.record_attendance(activity, [(world.resident_id, 90)], "test", f"att-{world.realm}")
    assert "error" not in done.results[0], done.results


def elsewhere(page, base_url: str) -> list[str]:
    origin = urlparse(base_url).netloc
    return [url for url in page.requested if urlparse(url).scheme in ("http", "https")
            and urlparse(url).netloc != origin]


async def test_the_dashboard_draws_every_chart_from_the_vendored_library(new_page, base_url, world: World,
                                                                         engine, ledger):
    await attended(engine, ledger, world)
    page = await new_page("/app/dashboard")
    await sign_in(page, await create_token(engine, "admin", world.realm))
    for chart in CHARTS:
        await page.wait_for_selector(f"#{chart}-chart canvas", state="attached")
    assert f"{base_url}/static/vendor/echarts/echarts.min.js" in page.requested
    assert await page.evaluate("typeof echarts.getInstanceByDom(document.getElementById('trend-chart'))") == "object"
    await page.wait_for_selector("#leaders tbody tr")
    assert await page.locator("#leaders tbody tr").count() == 1
    SCREENSHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "dashboard-phone.png"), full_page=True)
    await assert_accessible(page, "dashboard, charts")
    await page.click("#participation-toggle")
    table = page.locator("#participation-table table")
    assert await table.is_visible() and "100" in await table.inner_text()   # one resident, active: 100 %
    await assert_accessible(page, "dashboard, a table shown")
    async with page.expect_download() as download:
        await page.click("#participation-csv")
    saved = await (await download.value).path()
    assert Path(saved).read_bytes().startswith("\ufeff".encode())
    await page.set_viewport_size(DESKTOP)
    await page.screenshot(path=str(SCREENSHOTS / "dashboard-desktop.png"), full_page=True)
    await assert_accessible(page, "dashboard, desktop")
    assert elsewhere(page, base_url) == []


async def test_an_auditor_reads_the_dashboard_but_names_no_star(new_page, base_url, world: World):
    page = await new_page("/app/dashboard")
    await sign_in(page, world.auditor_token)
    await page.wait_for_selector("#budget-chart canvas", state="attached")
    assert await page.locator("#leaders button").count() == 0
    assert elsewhere(page, base_url) == []


async def test_the_inbox_badge_counts_and_the_list_marks_read(new_page, base_url, world: World):
    page = await new_page("/app/resident")
    await sign_in(page, world.resident_token)
    await page.wait_for_selector("#inbox", state="visible")
    for _ in range(20):                                   # the outbox is dispatched every second
        if await page.locator("#inbox-badge").is_visible():
            break
        await page.wait_for_timeout(500)
        await page.evaluate("document.getElementById('inbox').click(); document.getElementById('inbox').click()")
    assert await page.locator("#inbox-badge").inner_text() == "1"
    await page.click("#inbox")
    await page.wait_for_selector("#inbox-list li.unread")
    assert "获得积分" in await page.locator("#inbox-list").inner_text()
    SCREENSHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "inbox-phone.png"), full_page=True)
    await assert_accessible(page, "inbox open")
    await page.click("#inbox-list li.unread button")
    await page.wait_for_selector("#inbox-badge", state="hidden")
    assert await page.locator("#inbox-list li.unread").count() == 0
    assert elsewhere(page, base_url) == []
