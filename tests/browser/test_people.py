"""People in, in a real browser at phone size: a resident opens the link of a sign-in
card, signs up, checks in by scanning the organizer's desk code with Chromium's fake
camera, checks out; the organizer closes the activity; the resident sees the award under
the activity's title. Screenshots of every page go to $POINTSBANK_SHOTS when set."""
from __future__ import annotations

import io
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from PIL import Image
from playwright.async_api import expect

from access import model as access_model
from access.service import Access
from earning import model as earning_model
from earning.service import Earning
from tests.browser.conftest import BROWSER_TIME_ZONE, CHROMIUM, CHROMIUM_ARGS, WAIT_MS
from tests.browser.test_camera import FAKE_CAMERA_ARGS, y4m_still

TITLE = "敬老院志愿服务"
STAYED_MIN = 30          # the resident's stay, set by moving the check-in back (nobody sleeps)


async def shot(page, name: str) -> None:
    folder = os.environ.get("POINTSBANK_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


async def camera_sees(page, selector: str, video: Path) -> None:
    """Point the fake camera at what `selector` shows (Chromium opens the file when a scan starts)."""
    picture = Image.open(io.BytesIO(await page.locator(selector).screenshot()))
    video.write_bytes(y4m_still(picture))


async def test_card_link_sign_up_scan_in_and_out_close_and_award(base_url, realm, engine, ledger, owner_conn,
                                                                 tmp_path):
    from playwright.async_api import async_playwright

    earning = Earning(engine, ledger)
    town = await earning.create_town(realm, "城关镇")
    station = await earning.create_station(realm, town["id"], "城关社区", "urban")
    resident = await earning.register_resident(realm, station["id"], f"Z{realm}", "张三")
    await earning.fund_budget(realm, "civic", 1000, "test", f"fund-{realm}")
    starts = datetime.now(timezone.utc) - timedelta(minutes=40)
    activity = await earning.create_activity(
        realm, "volunteering", station["id"], TITLE, starts, starts + timedelta(hours=1), "test",
        earning_model.ActivityDetails(place="敬老院", capacity=5, signup_closes_at=starts + timedelta(hours=1)))
    access = Access(engine)
    resident_card = await access.create_enrolment(access_model.Holder("resident", realm, resident_id=resident["id"]), "test")
    organizer_card = await access.create_enrolment(access_model.Holder("organizer", realm, station_id=station["id"]), "test")
    video = tmp_path / "camera.y4m"
    video.write_bytes(y4m_still(Image.new("RGB", (40, 40), "white")))

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[*CHROMIUM_ARGS, *FAKE_CAMERA_ARGS, f"--use-file-for-fake-video-capture={video}"])
        try:
            def context():
                return browser.new_context(base_url=base_url, viewport={"width": 390, "height": 844},
                                           device_scale_factor=2, timezone_id=BROWSER_TIME_ZONE,
                                           permissions=["camera"])
            desk_context, phone_context = await context(), await context()
            for each in (desk_context, phone_context):
                each.set_default_timeout(WAIT_MS)
            desk = await desk_context.new_page()
            desk.on("dialog", lambda dialog: dialog.accept())
            phone = await phone_context.new_page()

            # The organizer signs in by typing the card's code, and opens the desk's code.
            await desk.goto("/app/organizer")
            await desk.fill("#token", organizer_card["code"].lower())
            await desk.click("#signin-form button[type=submit]")
            await desk.wait_for_selector("#signed-in", state="visible")
            item = desk.locator(f'#activities li[data-activity="{activity["id"]}"]')
            await expect(item).to_contain_text(TITLE)
            await shot(desk, "organizer")
            await item.get_by_role("button", name="签到码（大屏）").click()
            await expect(desk.locator("#desk-qr")).to_have_attribute("src", re.compile("^blob:"))
            await expect(desk.locator("#desk-qr")).to_have_js_property("complete", True)
            await shot(desk, "organizer-desk")

            # The resident opens the card's link: signed in, on the activities page.
            await phone.goto(f"/app/enrol#code={resident_card['code']}")
            await phone.wait_for_url("**/app/activities")
            await phone.wait_for_selector("#signed-in", state="visible")
            assert resident_card["code"] not in phone.url
            offered = phone.locator(f'#upcoming li[data-activity="{activity["id"]}"]')
            await expect(offered).to_contain_text("可得 22 积分")
            await shot(phone, "activities")
            await offered.get_by_role("button", name="报名").click()
            await expect(phone.locator("#message")).to_have_text("报名成功！")
            await expect(phone.locator(f'#mine li[data-activity="{activity["id"]}"]')).to_contain_text("已报名")

            # Check in: the camera sees the desk's screen.
            await camera_sees(desk, "#desk-qr", video)
            await phone.click("#scan")
            await expect(phone.locator("#result-text")).to_have_text("已签到")
            await shot(phone, "activities-checked-in")
            await expect(desk.locator("#desk-list")).to_contain_text("张三")
            await expect(desk.locator("#desk-count")).to_contain_text("在场 1")

            owner_conn.execute("SET LOCAL session_replication_role = replica")
            owner_conn.execute("UPDATE activity_checkins SET checked_in_at = checked_in_at - %s * interval '1 minute' "
                               "WHERE realm = %s AND activity_id = %s", (STAYED_MIN, realm, activity["id"]))
            owner_conn.commit()

            # Check out with the desk's current code.
            await camera_sees_fresh(desk, video)
            await phone.click("#scan")
            await expect(phone.locator("#result-text")).to_have_text("已签退")
            await expect(phone.locator("#result-detail")).to_contain_text(f"{STAYED_MIN} 分钟")

            # The organizer closes the activity and sees the summary.
            await desk.click("#desk-close")
            await item.get_by_role("button", name="结束并发积分").click()
            await expect(desk.locator("#summary-text")).to_have_text("发放 1 人 · 20 积分")
            await shot(desk, "organizer-summary")

            # The resident sees the award under the activity's title.
            await phone.reload()
            mine = phone.locator(f'#mine li[data-activity="{activity["id"]}"]')
            await expect(mine.locator(".title")).to_have_text(TITLE)
            await expect(mine.locator(".award")).to_have_text("获得 20 积分")
            await shot(phone, "activities-awarded")
        finally:
            await browser.close()

    awards = (await earning.awards(await earning.resident(resident["id"]), None, None)).items
    assert [(a["activity_id"], a["minutes"], a["points"]) for a in awards] == [(activity["id"], STAYED_MIN, 20)]


async def camera_sees_fresh(desk, video: Path) -> None:
    """A new code on the desk's screen (as its timer would fetch), then the camera sees it."""
    await desk.evaluate("""async () => {
        const img = document.getElementById('desk-qr');
        const activity = document.querySelector('#activities li[data-activity]').getAttribute('data-activity');
        const answer = await fetch('/v1/activities/' + activity + '/checkin-code.png', {
            headers: {Authorization: 'Bearer ' + localStorage.getItem('pb.token.organizer')}});
        img.src = URL.createObjectURL(await answer.blob());
        await img.decode();
    }""")
    await camera_sees(desk, "#desk-qr", video)
