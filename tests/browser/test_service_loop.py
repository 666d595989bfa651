"""The service loop in a real browser at phone size: a resident orders a service, the
organizer dispatches it from the dispatch desk, the volunteer accepts it and marks it
done, the resident confirms and rates it, and the volunteer sees the points. Every page
passes axe; screenshots go to $POINTSBANK_SHOTS when set."""
from __future__ import annotations

from playwright.async_api import expect

from access import model as access_model
from access.service import Access
from earning.service import Earning
from orders import model
from orders.service import Orders
from tests.browser.axe import assert_accessible
from tests.browser.test_people import shot

VOLUNTEER_POINTS = 20 + 2 * 1     # the 志愿 rule for 90 minutes


async def signed_in(page, path: str) -> None:
    await page.goto(path)
    await page.wait_for_selector("#signed-in", state="visible")


async def test_order_dispatch_accept_done_rate_and_the_volunteer_sees_the_points(new_page, realm, engine, ledger):
    earning = Earning(engine, ledger)
    town = await earning.create_town(realm, "城关镇")
    station = await earning.create_station(realm, town["id"], "城关社区", "urban")
    requester = await earning.register_resident(realm, station["id"], f"L{realm}", "李奶奶")
    volunteer = await earning.register_resident(realm, station["id"], f"W{realm}", "王小明")
    await earning.fund_budget(realm, "civic", 1000, "test", f"fund-{realm}")
    orders = Orders(engine, ledger)
    await orders.apply(realm, volunteer["id"], ["助老"], [station["id"]], "周末")
    await orders.decide(realm, volunteer["id"], True, "test")
    access = Access(engine)
    cards = {name: await access.create_enrolment(holder, "test") for name, holder in (
        ("requester", access_model.Holder("resident", realm, resident_id=requester["id"])),
        ("volunteer", access_model.Holder("resident", realm, resident_id=volunteer["id"])),
        ("organizer", access_model.Holder("organizer", realm, station_id=station["id"])))}

    # The resident orders from the services page.
    phone = await new_page(f"/app/enrol#code={cards['requester']['code']}")
    await phone.wait_for_url("**/app/activities")
    await signed_in(phone, "/app/services")
    await expect(phone.locator("#order-category option").first).to_have_text("助老")
    await phone.fill("#order-description", "帮忙买菜，送到家")
    await phone.fill("#order-notes", "幸福路 8 号 3 单元")
    await phone.click("#order-submit")
    await expect(phone.locator("#message")).to_have_text("点单成功，请等待派单。")
    await expect(phone.locator("#requests li").first).to_contain_text("等待派单")
    await assert_accessible(phone, "ordered")
    await shot(phone, "services-ordered")

    # The organizer dispatches it from the desk's dispatch page.
    desk = await new_page("/app/organizer")
    await desk.fill("#token", cards["organizer"]["code"])
    await desk.click("#signin-form button[type=submit]")
    await desk.wait_for_selector("#signed-in", state="visible")
    await desk.click("#dispatch-link")
    await desk.wait_for_url("**/app/dispatch")
    await desk.wait_for_selector("#signed-in", state="visible")
    queued = desk.locator("#queue li").first
    await expect(queued).to_contain_text("帮忙买菜")
    await expect(queued).to_contain_text("幸福路 8 号")          # the dispatcher reads the address
    await assert_accessible(desk, "queue")
    await shot(desk, "dispatch-queue")
    await queued.get_by_role("button", name="派给 王小明").click()
    await expect(desk.locator("#message")).to_have_text("已派给 王小明")
    await expect(desk.locator("#queue")).to_contain_text("没有待派的点单。")

    # The volunteer accepts it and marks it done.
    helper = await new_page(f"/app/enrol#code={cards['volunteer']['code']}")
    await helper.wait_for_url("**/app/activities")
    await signed_in(helper, "/app/services")
    task = helper.locator("#tasks li").first
    await expect(task).to_contain_text("幸福路 8 号")           # and so does the volunteer
    await task.get_by_role("button", name="接单").click()
    await expect(helper.locator("#tasks li").first).to_contain_text("志愿者已接单")
    await helper.locator("#tasks li").first.get_by_label("服务时长（分钟）").fill("90")
    await helper.locator("#tasks li").first.get_by_role("button", name="服务完成").click()
    await expect(helper.locator("#tasks li").first).to_contain_text("已完成，等待点单人确认")
    await assert_accessible(helper, "task done")
    await shot(helper, "services-task-done")

    # The resident confirms and rates it.
    await phone.reload()
    await phone.wait_for_selector("#signed-in", state="visible")
    mine = phone.locator("#requests li").first
    await expect(mine).to_contain_text("服务已完成，请确认并评价")
    await mine.get_by_label("评分").select_option("5")
    await mine.get_by_role("textbox").fill("小王很耐心")
    await mine.get_by_role("button", name="确认并评价").click()
    await expect(phone.locator("#message")).to_have_text("已确认，谢谢您的评价！")
    await expect(phone.locator("#requests li").first).to_contain_text("我的评分 5 ★")
    await expect(phone.locator("#points")).to_have_text("2 积分")      # the reward for rating
    await shot(phone, "services-rated")

    # The volunteer sees the points.
    await helper.reload()
    await helper.wait_for_selector("#signed-in", state="visible")
    await expect(helper.locator("#tasks li").first).to_contain_text(f"获得 {VOLUNTEER_POINTS} 积分")
    await expect(helper.locator("#points")).to_have_text(f"{VOLUNTEER_POINTS} 积分")
    await assert_accessible(helper, "points")
    await shot(helper, "services-volunteer-points")


async def test_an_organizer_orders_and_confirms_for_a_resident_without_a_phone(new_page, realm, engine, ledger):
    earning = Earning(engine, ledger)
    town = await earning.create_town(realm, "城关镇")
    station = await earning.create_station(realm, town["id"], "城关社区", "urban")
    requester = await earning.register_resident(realm, station["id"], f"N{realm}", "赵爷爷")
    volunteer = await earning.register_resident(realm, station["id"], f"V{realm}", "钱小红")
    await earning.fund_budget(realm, "civic", 1000, "test", f"fund-{realm}")
    orders = Orders(engine, ledger)
    await orders.apply(realm, volunteer["id"], ["助老"], [station["id"]], None)
    await orders.decide(realm, volunteer["id"], True, "test")
    card = await Access(engine).create_enrolment(access_model.Holder("organizer", realm, station_id=station["id"]),
                                                 "test")

    desk = await new_page("/app/organizer")
    await desk.fill("#token", card["code"])
    await desk.click("#signin-form button[type=submit]")
    await desk.wait_for_selector("#signed-in", state="visible")
    await desk.click("#dispatch-link")
    await desk.wait_for_url("**/app/dispatch")
    await desk.wait_for_selector("#signed-in", state="visible")
    await expect(desk.locator("#behalf-category option").first).to_have_text("助老")
    await desk.fill("#behalf-resident", str(requester["id"]))
    await desk.fill("#behalf-description", "陪同去医院复查")
    await desk.click("#behalf-submit")
    await expect(desk.locator("#message")).to_have_text("已代居民点单")
    queued = desk.locator("#queue li").first
    await expect(queued).to_contain_text("陪同去医院复查")
    await assert_accessible(desk, "ordered for a resident")
    await shot(desk, "dispatch-ordered-for")

    request_id = int(await queued.get_attribute("data-request"))
    found = await orders.request(request_id)
    assert found["requester_id"] == requester["id"]
    helper = model.Actor("resident", realm, "resident:test", volunteer["id"])
    await queued.get_by_role("button", name="派给 钱小红").click()
    await expect(desk.locator("#message")).to_have_text("已派给 钱小红")
    await orders.take(request_id, model.Step("accept"), helper, f"accept-{request_id}")
    await orders.take(request_id, model.Step("done", minutes=60), helper, f"done-{request_id}")

    await desk.reload()
    await desk.wait_for_selector("#signed-in", state="visible")
    done = desk.locator("#recent li").first
    await done.get_by_label("评分").select_option("4")
    await done.get_by_role("button", name="代为确认").click()
    await expect(desk.locator("#message")).to_have_text("已确认，谢谢您的评价！")
    await expect(desk.locator("#recent li").first).to_contain_text("4 ★")
    await assert_accessible(desk, "confirmed for a resident")
    await shot(desk, "dispatch-confirmed-for")
    confirmed = await orders.request(request_id)
    assert (confirmed["state"], confirmed["rating"], confirmed["confirmed_by"].startswith("organizer")) == (
        "confirmed", 4, True)
    assert [award["kind"] for award in await orders.awards(confirmed)] == ["volunteer", "rating"]
