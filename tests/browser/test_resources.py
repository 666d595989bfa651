"""Booking a shared resource in a real browser at phone size: a resident finds a health
check, books it with priority points (the price shown before), the provider marks the
resident attended on its page, and the resident's history shows the points spent there.
Each page state passes axe. Screenshots go to $POINTSBANK_SHOTS when set."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from playwright.async_api import expect

from api.auth import create_token
from earning.service import Earning
from merchants.service import Merchants
from resources import model
from resources.service import Resources
from tests.browser.axe import assert_accessible
from tests.browser.conftest import STARTING_POINTS, give_points, sign_in
from tests.browser.test_people import shot

PRICE = 20
TITLE = "老年人免费体检"
PROVIDER = "县人民医院"
RESIDENT = "李四"
STATION = "城关站"


def realm_day(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()


async def health_check_offered(realm, engine, ledger) -> dict:
    earning = Earning(engine, ledger)
    town = await earning.create_town(realm, "城关镇")
    station = await earning.create_station(realm, town["id"], STATION, "urban")
    resident = await earning.register_resident(realm, station["id"], f"H{realm}", RESIDENT)
    civic = next(a for a in resident["accounts"] if a["asset"] == "civic")
    await give_points(ledger, realm, civic["id"], STARTING_POINTS)
    hospital = await Merchants(engine, ledger).create(realm, "service_provider", PROVIDER)
    service = Resources(engine, ledger)
    provider = await service.register_provider(
        realm, PROVIDER, model.Provider(hospital["id"], "service_provider", realm), "test")
    offered = await service.create_resource(provider, {
        "kind": "health", "title": TITLE, "scope": "realm", "station_id": station["id"],
        "description": "空腹前来，带上医保卡", "priority_price": PRICE, "priority_places": 2,
        "cancel_cutoff_h": 0}, "test")
    start = datetime.now(timezone.utc).replace(second=0, microsecond=0) + timedelta(hours=1)
    slot = (await service.add_slots(offered, [start], timedelta(hours=1), 10, 2))[0]
    return {"resource": offered, "slot": slot, "service": service, "resident_id": resident["id"],
            "station": station,
            "resident_token": await create_token(engine, "resident", realm, resident_id=resident["id"]),
            "provider_token": await create_token(engine, "merchant", realm, merchant_id=hospital["id"])}


async def test_resident_books_with_priority_points_provider_marks_attended_history_shows_spend(
        new_page, realm, engine, ledger):
    offered = await health_check_offered(realm, engine, ledger)
    resource, slot = offered["resource"], offered["slot"]

    phone = await new_page("/app/resources")
    await sign_in(phone, offered["resident_token"])
    item = phone.locator(f'#resources li[data-resource="{resource["id"]}"]')
    await expect(item).to_contain_text(TITLE)
    await expect(item).to_contain_text(f"用 {PRICE} 积分优先预约")
    await expect(item).to_contain_text("本站")
    await assert_accessible(phone, "resources")
    await item.get_by_role("button", name="查看时段").click()
    times = item.locator(f'li[data-slot="{slot["id"]}"]')
    await expect(times).to_contain_text("剩余名额 8/10")
    await shot(phone, "resources-find")
    await times.get_by_role("button", name=f"用 {PRICE} 积分优先预约").click()
    await expect(phone.locator("#message")).to_have_text(f"优先预约成功，已扣住 {PRICE} 积分。")
    booked = phone.locator("#mine li[data-reservation]")
    await expect(booked).to_contain_text(TITLE)
    await expect(booked).to_contain_text(f"已扣住 {PRICE} 积分")
    await expect(booked).to_contain_text("已预约")
    await assert_accessible(phone, "booked")
    await shot(phone, "resources-booked")

    desk = await new_page("/app/provider")
    await sign_in(desk, offered["provider_token"])
    await expect(desk.locator("#who")).to_have_text(PROVIDER)
    await expect(desk.locator("#day")).to_have_value(realm_day(datetime.now(timezone.utc)))   # the realm's today
    await desk.fill("#day", realm_day(slot["starts_at"]))      # the slot's day (after midnight, tomorrow)
    await desk.click("#day-form button[type=submit]")
    row = desk.locator("#bookings li[data-reservation]")
    await expect(row).to_contain_text(TITLE)
    await expect(row).to_contain_text(RESIDENT)      # by name: a provider is staff for its own bookings
    await expect(row).to_contain_text(f"已扣住 {PRICE} 积分")
    await assert_accessible(desk, "provider")
    await shot(desk, "provider-day")
    await row.get_by_role("button", name="到场").click()
    await expect(desk.locator("#message")).to_have_text("已登记。")
    await expect(row).to_contain_text("已到场")
    await expect(row).to_contain_text(f"已付 {PRICE} 积分")
    await shot(desk, "provider-attended")

    await phone.goto("/app/resident")
    await phone.wait_for_selector("#signed-in", state="visible")
    spend = phone.locator('#history li[data-what="reservation_paid"]')
    await expect(spend).to_contain_text(f"优先预约，已付「{TITLE}」")
    await expect(spend).to_contain_text(f"−{PRICE}")
    await expect(spend).to_contain_text(PROVIDER)
    await expect(spend).to_contain_text("已到场")
    await assert_accessible(phone, "history")
    await shot(phone, "resident-history")
    await expect(phone.locator("#balances")).to_contain_text(str(STARTING_POINTS - PRICE))


async def test_the_organizers_desk_books_for_its_station(new_page, realm, engine, ledger):
    offered = await health_check_offered(realm, engine, ledger)
    station_id = offered["resource"]["station_id"]
    organizer = await create_token(engine, "organizer", realm, station_id=station_id)
    desk = await new_page("/app/desk-resources")
    await sign_in(desk, organizer)
    await expect(desk.locator("#station")).to_have_value(str(station_id))
    await expect(desk.locator("#station option")).to_have_text([STATION])   # its own station only, by name
    item = desk.locator(f'#resources li[data-resource="{offered["resource"]["id"]}"]')
    await item.get_by_role("button", name="查看时段").click()
    times = item.locator(f'li[data-slot="{offered["slot"]["id"]}"]')
    await expect(times.get_by_role("button")).to_have_count(1)        # no priority (points) for a station
    await times.get_by_role("button", name="预约").click()
    await expect(desk.locator("#message")).to_have_text("预约成功！")
    await expect(desk.locator("#mine li[data-reservation]")).to_contain_text(TITLE)
    await assert_accessible(desk, "desk booked")
    await shot(desk, "desk-resources")


async def test_a_realm_organizer_picks_the_station_from_a_list(new_page, realm, engine, ledger):
    offered = await health_check_offered(realm, engine, ledger)
    organizer = await create_token(engine, "organizer", realm)
    desk = await new_page("/app/desk-resources")
    await sign_in(desk, organizer)
    await expect(desk.locator("#station option", has_text=STATION)).to_have_count(1)
    await desk.select_option("#station", label=STATION)
    item = desk.locator(f'#resources li[data-resource="{offered["resource"]["id"]}"]')
    await expect(item).to_contain_text("本站")                  # ranked from the picked station
    await item.get_by_role("button", name="查看时段").click()
    await item.locator(f'li[data-slot="{offered["slot"]["id"]}"]').get_by_role("button", name="预约").click()
    await expect(desk.locator("#message")).to_have_text("预约成功！")
    await expect(desk.locator("#mine li[data-reservation]")).to_contain_text(TITLE)
    await assert_accessible(desk, "desk picker")
    await shot(desk, "desk-station-picker")


async def test_the_provider_cancels_a_slot_on_its_page_and_the_points_come_back(new_page, realm, engine, ledger):
    from resources.service import Booker

    offered = await health_check_offered(realm, engine, ledger)
    station = model.Station(realm, offered["station"]["id"], offered["station"]["town_id"])
    booked = await offered["service"].book(offered["slot"]["id"], Booker(realm, station, offered["resident_id"]),
                                           True, "book-slot-cancel", "test")
    assert booked["points"] == "held"
    desk = await new_page("/app/provider")
    await sign_in(desk, offered["provider_token"])
    await desk.fill("#day", realm_day(offered["slot"]["starts_at"]))
    await desk.click("#day-form button[type=submit]")
    slot_row = desk.locator(f'#slots li[data-slot="{offered["slot"]["id"]}"]')
    await expect(slot_row).to_contain_text("已约 1/10")
    await assert_accessible(desk, "provider slots")
    desk.once("dialog", lambda dialog: dialog.accept())
    await slot_row.get_by_role("button", name="取消时段").click()
    await expect(desk.locator("#message")).to_have_text("时段已取消，1 个预约已取消并退回积分。")
    await expect(slot_row).to_contain_text("已取消")
    booking = desk.locator("#bookings li[data-reservation]")
    await expect(booking).to_contain_text("服务方已取消")
    await expect(booking).to_contain_text(f"{PRICE} 积分已退回")
    await shot(desk, "provider-slot-cancelled")
    again = await offered["service"].reservation(booked["id"])
    assert (again["status"], again["points"]) == ("provider_cancelled", "released")
