"""The issue's journeys at phone size (390x844), with axe-core in every state: a resident
earns at an activity, shops, makes a voucher for a merchant picked by name; a merchant
looks a voucher up, sees it, takes part of it only after confirming; the resident sees
what was spent and what came back; the auditor sees every check pass."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import httpx
from playwright.async_api import expect

from api.auth import create_token
from earning.service import Earning
from merchants.service import Catalogue
from tests.browser.axe import assert_accessible
from tests.browser.conftest import World, sign_in
from tests.browser.test_pages import balance_text, issue_voucher, take

ACTIVITY_TITLE = "垃圾分类宣讲"
REWARD = "一袋大米 5kg"


async def earn_at_an_activity(engine, ledger, world: World) -> int:
    """The resident attends a two-hour talk; the points it earned."""
    earning = Earning(engine, ledger)
    await earning.fund_budget(world.realm, "civic", 10_000, "test", f"fund-flows-{world.realm}")
    resident = await earning.resident(world.resident_id)
    starts = datetime.now(timezone.utc) - timedelta(hours=3)
    activity = await earning.create_activity(world.realm, "talk", resident["station_id"], ACTIVITY_TITLE,
                                             starts, starts + timedelta(hours=2), "test")
    outcome = await earning.record_attendance(activity, [(world.resident_id, 120)], "test",
                                              f"flows-{activity['id']}")
    return outcome.results[0]["points"]


async def test_a_resident_earns_shops_and_makes_a_voucher_for_a_merchant_by_name(new_page, world: World,
                                                                                  engine, ledger):
    points = await earn_at_an_activity(engine, ledger, world)
    await Catalogue(engine).create_item(world.merchant_id, REWARD, 100, stock=3)
    page = await new_page("/app/resident")
    await assert_accessible(page, "signed out")
    await sign_in(page, world.resident_token)
    first = page.locator("#history .row").first
    await expect(first.locator(".what")).to_have_text(f"参加「{ACTIVITY_TITLE}」")
    await expect(first.locator(".amount")).to_have_text(f"+{points}")
    assert await first.locator(".after").text_content() == f"余额 {1000 + points:,}"
    await assert_accessible(page, "signed in")

    reward = page.locator("#shop .row", has_text=REWARD)
    await expect(reward.locator(".after")).to_have_text("还剩 3 件")
    await reward.locator("button").click()
    await expect(page.locator("#voucher-note")).to_have_text(f"已换取“{REWARD}”，请到商家出示下面的兑换码。")
    await expect(page.locator("#voucher-where")).to_have_text("在哪里使用：供销超市")
    await expect(reward.locator(".after")).to_have_text("还剩 2 件")
    await expect(balance_text(page)).to_have_text(f"{1000 + points - 100:,}")
    await assert_accessible(page, "a reward taken")

    await page.select_option("#issue-merchant", label="供销超市")      # picked by name, no number
    reward_voucher = await page.locator("#voucher-short").text_content()
    await issue_voucher(page, 50)
    # the new voucher is shown (not still the reward's) before the form is touched again
    await expect(page.locator("#voucher-short")).not_to_have_text(reward_voucher or "")
    await expect(page.locator("#voucher-amount")).to_have_text("50")
    await expect(page.locator("#voucher-where")).to_have_text("在哪里使用：供销超市")
    assert (await page.locator("#voucher-expires").text_content()).endswith("日前有效")
    await page.select_option("#issue-asset", "agri")
    assert await page.locator("#issue-merchant option").all_text_contents() == ["任意助农店"]
    await assert_accessible(page, "a voucher shown")


async def test_a_merchant_sees_the_voucher_then_takes_part_and_the_resident_sees_spent_and_returned(
        new_page, world: World, ledger):
    resident = await new_page("/app/resident")
    await sign_in(resident, world.resident_token)
    await issue_voucher(resident, 200)
    short_code = await resident.locator("#voucher-short").text_content()

    merchant = await new_page("/app/merchant")
    await sign_in(merchant, world.merchant_token)
    await expect(merchant.locator("#today-total")).to_have_text("今天已收 0 积分，共 0 笔")
    await expect(merchant.locator("#recent .none")).to_have_text("今天还没有收取。")
    await assert_accessible(merchant, "signed in")
    await merchant.fill("#short-code", short_code)
    await merchant.click("#lookup")
    await expect(merchant.locator("#preview-face")).to_have_text("200 文明积分")
    assert await merchant.locator("#preview-status").text_content() == "待使用"
    assert await merchant.locator("#preview-scope").text_content() == "所有合作商家"
    assert (await merchant.locator("#preview-expires").text_content()).endswith("日前有效")
    assert await merchant.locator("#take-amount").input_value() == "200"
    assert (await ledger.account(world.merchant_civic_account_id))["balance"] == 0   # nothing moved yet
    await assert_accessible(merchant, "the preview")

    await merchant.fill("#take-amount", "201")
    await merchant.click("#confirm")
    await expect(merchant.locator("#result-text")).to_have_text("收取的积分超过兑换码的额度。")
    await merchant.fill("#take-amount", "80")
    await merchant.click("#confirm")
    await expect(merchant.locator("#result-text")).to_have_text("已收取 80 积分")
    assert (await merchant.locator("#result-detail").text_content()).startswith("退回居民 120 积分 · 时间 ")
    assert await merchant.locator("#preview").is_hidden()
    await expect(merchant.locator("#today-total")).to_have_text("今天已收 80 积分，共 1 笔")
    await expect(merchant.locator("#recent .amount")).to_have_text(["+80"])
    await assert_accessible(merchant, "taken")

    await expect(resident.locator("#voucher-status")).to_have_text("部分兑换")
    await expect(resident.locator("#voucher-spent")).to_have_text("已使用 80，退回 120")
    await expect(balance_text(resident)).to_have_text(f"{1000 - 80:,}")
    spent = resident.locator('#history .row[data-what="spent"]')
    await expect(spent.locator(".what")).to_have_text("在供销超市使用 80，退回")
    assert await spent.locator(".amount").text_content() == "+120"
    made = resident.locator('#history .row[data-what="voucher_made"]')
    assert await made.locator(".sub").text_content() == "在供销超市使用 80，退回 120"
    await assert_accessible(resident, "spent and returned")
    assert (await ledger.account(world.civic_account_id))["balance"] == 1000 - 80
    assert (await ledger.account(world.merchant_civic_account_id))["balance"] == 80


async def test_a_pending_take_disables_the_button_and_clears_the_last_result(new_page, world: World):
    resident = await new_page("/app/resident")
    await sign_in(resident, world.resident_token)
    await issue_voucher(resident, 10)
    short_code = await resident.locator("#voucher-short").text_content()
    merchant = await new_page("/app/merchant")
    await sign_in(merchant, world.merchant_token)
    await merchant.fill("#short-code", "ABCD-EFGH-JKMN-Z")
    await merchant.click("#lookup")
    await merchant.wait_for_selector("#result.refused")

    release = []

    async def slow(route):
        release.append(route)

    await merchant.route("**/v1/redemptions", slow)
    await merchant.fill("#short-code", short_code)
    await merchant.click("#lookup")
    await merchant.wait_for_selector("#confirm-form", state="visible")
    assert await merchant.locator("#result").is_hidden()          # the old refusal is gone
    await merchant.click("#confirm")
    await expect(merchant.locator("#confirm")).to_be_disabled()
    await expect(merchant.locator("#busy")).to_be_visible()
    await assert_accessible(merchant, "waiting")
    while not release:
        await merchant.wait_for_timeout(50)
    await release[0].continue_()
    await expect(merchant.locator("#result-text")).to_have_text("已收取 10 积分")
    await expect(merchant.locator("#busy")).to_be_hidden()


async def test_the_auditor_sees_every_check_pass_and_a_verified_checkpoint(new_page, world: World, engine,
                                                                           base_url):
    admin = await create_token(engine, "admin", world.realm)
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {admin}"}) as api:
        rate = await api.put(f"/v1/realms/{world.realm}/settlement-rate", json={"fen_per_point": 10})
        assert rate.status_code == 200, rate.text
        settled = await api.post("/v1/settlements", headers={"Idempotency-Key": f"flows-{world.realm}"},
                                  json={"realm": world.realm, "merchant_id": world.merchant_id,
                                        "to": datetime.now(timezone.utc).isoformat()})
        assert settled.status_code == 201, settled.text
        sealed = await api.post(f"/v1/audit/checkpoints?realm={world.realm}")
    assert sealed.status_code == 201, sealed.text
    page = await new_page("/app/audit")
    await sign_in(page, world.auditor_token)
    await expect(page.locator("#checks-summary")).to_have_text(re.compile(r"^全部 \d+ 项检查通过$"))
    assert set(await page.locator("#checks .row > span:first-child").all_text_contents()) == {"通过"}
    assert "试算平衡：每种积分的所有账户合计为零" in await page.locator("#checks .what").all_text_contents()
    await expect(page.locator("#checkpoint-signature")).to_have_text("签名验证通过")
    statement = page.locator("#settlements .row")
    await expect(statement.locator(".what")).to_have_text("供销超市")
    assert (await statement.locator(".sub").text_content()).endswith("0 积分 = 0.00 元")
    async with page.expect_download() as download:
        await statement.get_by_role("button", name="PDF").click()
    assert (await download.value).suggested_filename == f"statement-{settled.json()['id']}.pdf"
    await assert_accessible(page, "checks pass")
    await page.click("#lang")
    await expect(page.locator("#checks-summary")).to_have_text(re.compile(r"^All \d+ checks pass$"))


async def test_every_page_has_one_h1_and_passes_axe_signed_out_in_both_languages(new_page):
    for path in ("/app/", "/app/resident", "/app/merchant", "/app/audit"):
        page = await new_page(path)
        await expect(page.locator("h1")).to_have_count(1)
        await assert_accessible(page, "signed out")
        await page.click("#lang")
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await assert_accessible(page, "signed out, English")
