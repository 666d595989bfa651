"""The web pages in a real browser: a resident shows a voucher, a merchant takes it, an
auditor reads the books; Chinese first with an English switch; clear messages."""
from __future__ import annotations

import io
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import zxingcpp
from PIL import Image
from playwright.async_api import expect

from tests.browser.axe import assert_accessible
from tests.browser.conftest import STARTING_POINTS, World, sign_in

VOUCHER_POINTS = 120


def balance_text(page, asset: str = "civic"):
    return page.locator(f'#balances li[data-asset="{asset}"] .points')


async def voucher_code_in_qr(page) -> str:
    """Decode the QR the page shows, from a screenshot of the element (what a camera sees)."""
    shot = await page.locator("#voucher-qr").screenshot()
    scans = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)))
    assert len(scans) == 1, "exactly one QR code on the voucher"
    return scans[0].text


async def qr_loaded(page) -> None:
    await expect(page.locator("#voucher-qr")).to_have_attribute("src", re.compile("^blob:"))
    await expect(page.locator("#voucher-qr")).to_have_js_property("complete", True)


async def issue_voucher(page, points: int) -> None:
    await page.fill("#issue-amount", str(points))
    await page.click("#issue-form button[type=submit]")
    await page.wait_for_selector("#voucher", state="visible")
    await qr_loaded(page)


async def test_resident_shows_a_voucher_and_a_merchant_types_its_short_code(new_page, world: World, ledger):
    resident = await new_page("/app/resident")
    await sign_in(resident, world.resident_token)
    await expect(balance_text(resident)).to_have_text(f"{STARTING_POINTS:,}")
    await issue_voucher(resident, VOUCHER_POINTS)
    short_code = (await resident.locator("#voucher-short").text_content()).strip()
    await expect(balance_text(resident)).to_have_text(f"{STARTING_POINTS - VOUCHER_POINTS:,}")

    voucher = (await ledger_vouchers(ledger, world))[0]
    assert await voucher_code_in_qr(resident) == voucher["code"]
    assert short_code.replace("-", "") == voucher["short_code"]
    assert await resident.locator("#voucher-status").text_content() == "待使用"
    last_day = (voucher["expires_at"] - timedelta(seconds=1)).astimezone(ZoneInfo("Asia/Shanghai"))
    assert await resident.locator("#voucher-expires").text_content() == (
        f"{last_day.year}年{last_day.month}月{last_day.day}日前有效")   # local midnight: the day before
    assert "兑换码二维码" in await resident.locator("#voucher-qr").get_attribute("alt")

    merchant = await new_page("/app/merchant")
    await sign_in(merchant, world.merchant_token)
    await take(merchant, short_code.lower())
    await merchant.wait_for_selector("#result.ok")
    assert await merchant.locator("#result-text").text_content() == f"已收取 {VOUCHER_POINTS} 积分"

    await merchant.fill("#short-code", short_code)
    await merchant.click("#lookup")
    await expect(merchant.locator("#preview-refusal")).to_have_text("不能收取：兑换码已经用过了。")
    assert await merchant.locator("#confirm-form").is_hidden()
    await assert_accessible(merchant, "a used voucher looked up")

    assert [v["status"] for v in await ledger_vouchers(ledger, world)] == ["redeemed"]
    assert (await ledger.account(world.merchant_civic_account_id))["balance"] == VOUCHER_POINTS

    # The resident's page notices the redemption by itself.
    await expect(resident.locator("#voucher-status")).to_have_text("已兑换")
    assert await resident.locator("#voucher-cancel").is_hidden()
    assert await balance_text(resident).text_content() == f"{STARTING_POINTS - VOUCHER_POINTS:,}"
    await resident.wait_for_selector("#vouchers .status-redeemed")

    for page in (resident, merchant):
        base = page.url.split("/app/")[0]
        assert page.requested and all(url.startswith(base) or url.startswith("blob:")
                                      for url in page.requested), page.requested


async def take(merchant, short_code: str, amount: int | None = None) -> None:
    """Type a short code, look the voucher up, then confirm (with `amount`, or the whole)."""
    await merchant.fill("#short-code", short_code)
    await merchant.click("#lookup")
    await merchant.wait_for_selector("#confirm-form", state="visible")
    if amount is not None:
        await merchant.fill("#take-amount", str(amount))
    await merchant.click("#confirm")


async def ledger_vouchers(ledger, world: World) -> list[dict]:
    from sqlalchemy import text

    async with ledger.engine.connect() as conn:
        rows = await conn.execute(text("SELECT id, code, short_code, status, expires_at FROM vouchers "
                                       "WHERE realm = :realm ORDER BY id DESC"), {"realm": world.realm})
        return [dict(row._mapping) for row in rows]


async def test_resident_cancels_a_voucher_and_gets_the_points_back(new_page, world: World, ledger):
    resident = await new_page("/app/resident")
    await sign_in(resident, world.resident_token)
    await issue_voucher(resident, 300)
    await expect(balance_text(resident)).to_have_text(f"{STARTING_POINTS - 300:,}")
    await resident.click("#voucher-cancel")
    await expect(resident.locator("#voucher-status")).to_have_text("已取消")
    await expect(balance_text(resident)).to_have_text(f"{STARTING_POINTS:,}")
    assert [v["status"] for v in await ledger_vouchers(ledger, world)] == ["cancelled"]
    assert (await ledger.account(world.civic_account_id))["balance"] == STARTING_POINTS
    await expect(resident.locator("#history .what")).to_have_text(["兑换码已取消，退回", "生成兑换码", "获得积分"])
    await expect(resident.locator("#history .amount")).to_have_text(["+300", "−300", "+1,000"])
    assert await resident.locator("#history .row").first.locator(".after").text_content() == "余额 1,000"


async def test_a_refused_voucher_shows_the_reason_and_moves_nothing(new_page, world: World, ledger):
    resident = await new_page("/app/resident")
    await sign_in(resident, world.resident_token)
    await resident.fill("#issue-amount", str(STARTING_POINTS + 1))
    await resident.click("#issue-form button[type=submit]")
    await resident.wait_for_selector("#message.error:not([hidden])")
    assert await resident.locator("#message").text_content() == "积分不足。"
    assert await resident.locator("#voucher").is_hidden()
    assert await ledger_vouchers(ledger, world) == []

    merchant = await new_page("/app/merchant")
    await sign_in(merchant, world.merchant_token)
    await merchant.fill("#short-code", "ABCD-EFGH-JKMN-Z")
    await merchant.click("#lookup")
    await merchant.wait_for_selector("#result.refused")
    assert (await merchant.locator("#result-text").text_content()).startswith("短码输错了")
    assert await merchant.locator("#preview").is_hidden()
    await assert_accessible(merchant, "a mistyped short code")


async def test_the_language_switch_changes_the_text_and_is_remembered(new_page, world: World):
    page = await new_page("/app/resident")
    await sign_in(page, world.resident_token)
    await page.wait_for_selector("#balances li")
    heading = page.locator("#issue-form button[type=submit]")
    assert await heading.text_content() == "生成"
    assert await page.locator("#balances .label").first.text_content() == "文明积分"
    await page.click("#lang")
    assert await heading.text_content() == "Make"
    assert await page.locator("#balances .label").first.text_content() == "Civic points"
    assert await page.evaluate("document.documentElement.lang") == "en"
    await page.reload()
    await page.wait_for_selector("#balances li")
    await expect(heading).to_have_text("Make")
    await page.click("#lang")
    assert await heading.text_content() == "生成"


async def test_a_bad_token_says_so_and_a_wrong_role_is_turned_away(new_page, world: World):
    page = await new_page("/app/resident")
    await page.fill("#token", "pb_not-a-real-token")
    await page.click("#signin-form button[type=submit]")
    await page.wait_for_selector("#message.error:not([hidden])")
    assert await page.locator("#message").text_content() == "令牌无效或已被吊销，请重新登录。"
    await assert_accessible(page, "sign-in refused")
    assert await page.locator("#signin").is_visible()
    assert await page.locator("#signed-in").is_hidden()
    assert await page.evaluate("localStorage.getItem('pb.token.resident')") is None

    await page.fill("#token", world.merchant_token)
    await page.click("#signin-form button[type=submit]")
    await expect(page.locator("#message")).to_have_text("这个令牌不能用于本页面。")
    assert await page.locator("#signed-in").is_hidden()

    await sign_in(page, world.resident_token)
    await page.reload()          # the token is remembered in localStorage
    await page.wait_for_selector("#signed-in", state="visible")
    await page.click("#signout")                       # asks first
    await expect(page.locator("#signout-confirm")).to_be_visible()
    await assert_accessible(page, "sign-out asks")
    await page.click("#signout-no")
    assert await page.locator("#signed-in").is_visible()
    await page.click("#signout")
    await page.click("#signout-yes")
    assert await page.locator("#signin").is_visible()
    assert await page.evaluate("localStorage.getItem('pb.token.resident')") is None


async def test_the_audit_page_reads_budgets_accounts_and_entries(new_page, world: World, ledger):
    page = await new_page("/app/audit")
    await sign_in(page, world.auditor_token)
    row = page.locator('#budgets tr[data-asset="civic"]')
    await row.locator("td").first.wait_for()
    assert await row.locator("th").text_content() == "文明积分"
    assert await row.locator("td").all_text_contents() == ["1,000", "1,000", "0", "0"]
    assert await page.locator("#who").text_content() == f"审计员 · {world.realm}"

    await page.fill("#account-id", str(world.civic_account_id))
    await page.click("#account-form button[type=submit]")
    await page.wait_for_selector("#account-view:not([hidden])")
    summary = await page.locator("#account-summary").text_content()
    assert "余额 1,000" in summary and "居民账户" in summary
    await page.locator("#account-postings .what button").first.click()   # the entry's id links to it
    await page.wait_for_selector("#entry-view:not([hidden])")
    amounts = await page.locator("#entry-postings .amount").all_text_contents()
    assert sorted(amounts) == sorted(["+1,000", "−1,000"])
    assert "获得积分" in await page.locator("#entry-summary").text_content()
    budget_link = page.locator("#entry-postings .what button").filter(
        has_not_text=f"账户 {world.civic_account_id}")
    await budget_link.click()                                             # and an account's id to it
    await expect(page.locator("#account-summary")).to_contain_text("预算账户")
    await assert_accessible(page, "an account and an entry open")


async def test_history_pages_with_more_and_a_listed_voucher_shows_again(new_page, world: World, ledger):
    from tests.browser.conftest import give_points

    for _ in range(11):
        await give_points(ledger, world.realm, world.civic_account_id, 1)
    page = await new_page("/app/resident")
    await sign_in(page, world.resident_token)
    rows = page.locator("#history .row")
    await expect(rows).to_have_count(10)
    await page.click("#history-more")
    await expect(rows).to_have_count(12)
    assert await page.locator("#history-more").is_hidden()
    assert await page.locator("#history .what").last.text_content() == "获得积分"
    assert await page.locator("#history .after").last.text_content() == f"余额 {STARTING_POINTS:,}"

    await issue_voucher(page, 5)
    short_code = await page.locator("#voucher-short").text_content()
    await page.reload()
    await page.wait_for_selector("#signed-in", state="visible")
    assert await page.locator("#voucher").is_hidden()
    listed = page.locator("#vouchers .row", has_text=short_code)
    await listed.locator("button").click()
    await expect(page.locator("#voucher-short")).to_have_text(short_code)
    await qr_loaded(page)
    assert await voucher_code_in_qr(page) == (await ledger_vouchers(ledger, world))[0]["code"]


