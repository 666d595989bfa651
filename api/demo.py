"""Demo data: one realm with funded budgets, residents with points, merchants, and a token
per role, so a newcomer can try the API at once. Safe to load twice: what exists is
reused, and fresh tokens are printed each time (tokens are shown only once)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from access.model import Holder
from api.app import Services
from api.auth import create_token
from earning.model import ActivityDetails
from ledger import errors, model

DEMO_REALM = "430104"
DEMO_REALM_NAME = "长沙市岳麓区"
DEMO_FUNDING = {"civic": 1_000_000, "agri": 200_000}
# Towns, their stations (urban and rural), residents by pseudonymous code, and past
# activities with attendance: residents hold points only through real awards.
DEMO_TOWNS = {"urban": "岳麓街道", "rural": "莲花镇"}
DEMO_STATIONS = {"urban": "桃子湖社区", "rural": "莲花村"}
DEMO_RESIDENTS = {"DEMO1001": ("张三", "urban"), "DEMO1002": ("李四", "urban"),
                  "DEMO1003": ("王五", "rural")}
DEMO_ACTIVITIES = (  # (title, type, station setting, days ago, hours, attendees and minutes)
    ("垃圾分类宣讲", "talk", "urban", 3, 2, {"DEMO1001": 120, "DEMO1002": 90}),
    ("敬老院志愿服务", "volunteering", "rural", 2, 3, {"DEMO1001": 180, "DEMO1003": 150}),
    ("电商助农培训", "training", "rural", 1, 2, {"DEMO1002": 120, "DEMO1003": 60}),
)
DEMO_MERCHANTS = {"岳麓供销超市": "general", "莲花镇助农店": "agri_shop",
                  "岳麓社区卫生服务中心": "service_provider"}  # registry merchants: name -> kind
# Rewards catalogue per merchant name: (item, points price, asset, stock or None for unlimited)
DEMO_CATALOGUE = {
    "岳麓供销超市": [("一袋大米 5kg", 100, "civic", 20), ("食用油 1L", 60, "civic", 30), ("洗衣粉", 30, "civic", None)],
    "莲花镇助农店": [("本地土鸡蛋 30枚", 80, "agri", 15), ("有机青菜 2kg", 40, "civic", None)],
    "岳麓社区卫生服务中心": [("优先预约体检", 50, "civic", 10)],
}
DEMO_UPCOMING = ("文明餐桌宣讲", "桃子湖社区居委会二楼", "光盘行动、公筷公勺；现场有小测验。")
DEMO_RATE_FEN_PER_POINT = 10   # 1 point = 0.10 yuan
DEMO_SETTLED_ITEM = ("岳麓供销超市", "洗衣粉")   # a resident takes it and the shop redeems it, then settles
# A shared resource: the clinic's health check at the urban station, weekly, with priority places.
DEMO_RESOURCE = {"provider": "岳麓社区卫生服务中心", "kind": "health", "title": "老年人免费体检", "scope": "realm",
                 "description": "空腹前来，带上医保卡。", "priority_price": 30, "priority_places": 2,
                 "cancel_cutoff_h": 24}
DEMO_SLOT_WEEKS, DEMO_SLOT_CAPACITY = 4, 10


async def load_demo(services: Services) -> dict[str, Any]:
    ledger = services.ledger
    try:
        await ledger.open_realm(DEMO_REALM, DEMO_REALM_NAME)
    except errors.RealmExists:
        pass
    accounts: dict[str, Any] = {}
    for asset in model.ASSETS:
        for kind in model.SYSTEM_ACCOUNT_KINDS:
            accounts[f"{kind}_{asset}"] = (await ledger.system_account(DEMO_REALM, kind, asset))["id"]
        await ledger.post(model.EntryDraft(
            realm=DEMO_REALM, kind="fund", created_by="demo", idempotency_key=f"demo-fund-{asset}",
            memo="演示预算", lines=(model.Line(accounts[f"funding_{asset}"], -DEMO_FUNDING[asset]),
                                    model.Line(accounts[f"budget_{asset}"], DEMO_FUNDING[asset]))))
    stations = await _demo_stations(services)
    residents = await _demo_residents(services, stations)
    activities = await _demo_activities(services, stations, residents)
    merchants = {}
    for name, kind in DEMO_MERCHANTS.items():
        merchant = (await services.merchants.find_by_name(DEMO_REALM, name)
                    or await services.merchants.create(DEMO_REALM, kind, name))
        account = await ledger.owned_account(DEMO_REALM, "merchant", "civic", merchant_id=merchant["id"])
        merchants[merchant["id"]] = {"name": name, "kind": kind, "civic_account_id": account["id"]}
    first_resident = next(iter(residents))
    settlements = await _load_catalogue_and_settlement(services, merchants, first_resident)
    first_merchant = next(iter(merchants))
    engine = services.engine
    tokens = {
        "admin": await create_token(engine, "admin", DEMO_REALM, label="demo admin"),
        "organizer": await create_token(engine, "organizer", DEMO_REALM,
                                        station_id=stations["urban"]["id"],
                                        label=f"demo organizer, {DEMO_STATIONS['urban']}"),
        "merchant": await create_token(engine, "merchant", DEMO_REALM, merchant_id=first_merchant,
                                       label="demo merchant"),
        "auditor": await create_token(engine, "auditor", DEMO_REALM, label="demo auditor"),
        "resident": await create_token(engine, "resident", DEMO_REALM, resident_id=first_resident,
                                       label="demo resident"),
    }
    upcoming = await _demo_upcoming(services, stations["urban"]["id"])
    resource, provider_merchant = await _demo_resource(services, merchants, stations["urban"]["id"])
    tokens["provider"] = await create_token(engine, "merchant", DEMO_REALM, merchant_id=provider_merchant,
                                            label="demo service provider")
    cards = {role: (await services.access.create_enrolment(holder, "demo", f"demo {role} card"))["code"]
             for role, holder in (("organizer", Holder("organizer", DEMO_REALM, station_id=stations["urban"]["id"])),
                                  ("resident", Holder("resident", DEMO_REALM, resident_id=first_resident)))}
    await services.checkpoints.seal(DEMO_REALM)  # auditors find a signed head at once
    return {"realm": DEMO_REALM, "realm_name": DEMO_REALM_NAME, "accounts": accounts,
            "residents": residents, "merchants": merchants, "settlements": settlements, "tokens": tokens,
            "stations": {setting: station["id"] for setting, station in stations.items()},
            "activities": activities, "upcoming_activity": upcoming, "cards": cards, "resource": resource}


async def _demo_resource(services: Services, merchants: dict[int, Any], station_id: int) -> tuple[dict[str, Any], int]:
    """The clinic as a provider, its health check and weekly slots from tomorrow 09:00 (safe
    twice: the keys answer what exists, and the same slots are found again)."""
    from resources.model import Provider

    merchant_id = next(mid for mid, m in merchants.items() if m["name"] == DEMO_RESOURCE["provider"])
    provider = await services.resources.register_provider(
        DEMO_REALM, DEMO_RESOURCE["provider"], Provider(merchant_id, "service_provider", DEMO_REALM), "demo",
        "demo-provider")
    fields = {k: v for k, v in DEMO_RESOURCE.items() if k != "provider"} | {"station_id": station_id}
    resource = await services.resources.create_resource(provider, fields, "demo", "demo-health-check")
    first = (datetime.now(timezone.utc) + timedelta(days=1)).replace(hour=1, minute=0, second=0, microsecond=0)
    starts = await services.resources.weekly_starts(resource, first, DEMO_SLOT_WEEKS)
    slots = await services.resources.add_slots(resource, starts, timedelta(hours=2), DEMO_SLOT_CAPACITY,
                                               DEMO_RESOURCE["priority_places"])
    return {"id": resource["id"], "title": resource["title"], "slots": [slot["id"] for slot in slots]}, merchant_id


async def _demo_upcoming(services: Services, station_id: int) -> int:
    """One activity to come (tomorrow), for the residents' page and the organizer's desk."""
    listed = await services.earning.upcoming({"realm": DEMO_REALM, "statuses": ("published",),
                                              "ended_since": datetime.now(timezone.utc),
                                              "only_station": station_id}, None, None)
    found = next((a for a in listed.items if a["title"] == DEMO_UPCOMING[0]), None)
    if found is not None:
        return found["id"]
    starts = (datetime.now(timezone.utc) + timedelta(days=1)).replace(hour=1, minute=0, second=0, microsecond=0)
    made = await services.earning.create_activity(
        DEMO_REALM, "talk", station_id, DEMO_UPCOMING[0], starts, starts + timedelta(hours=2), "demo",
        ActivityDetails(place=DEMO_UPCOMING[1], capacity=30, description=DEMO_UPCOMING[2]))
    return made["id"]


async def _load_catalogue_and_settlement(services: Services, merchants: dict[int, Any],
                                         resident_id: int) -> list[dict[str, Any]]:
    """Each merchant's catalogue (made once), the realm's rate, and one settled period: a
    resident takes an item, the shop redeems the voucher, the shop's period is settled."""
    from api.catalogue_redemption import redeem_item
    from redemption.model import Merchant

    await services.settlements.set_rate(DEMO_REALM, DEMO_RATE_FEN_PER_POINT)
    for merchant_id, merchant in merchants.items():
        existing = {item["name"]: item for item in
                    (await services.catalogue.page(DEMO_REALM, merchant_id, None, None)).items}
        merchant["catalogue"] = []
        for name, price, asset, stock in DEMO_CATALOGUE.get(merchant["name"], []):
            item = existing.get(name) or await services.catalogue.create_item(merchant_id, name, price, asset, stock)
            merchant["catalogue"].append({"id": item["id"], "name": name, "price": price, "asset": asset,
                                          "stock": item["stock"]})
    shop_id = next(mid for mid, m in merchants.items() if m["name"] == DEMO_SETTLED_ITEM[0])
    if (await services.settlements.page(DEMO_REALM, shop_id, None, 1)).items:
        return [_settlement_summary(s) for s in (await services.settlements.page(DEMO_REALM, None, None, None)).items]
    item_id = next(i["id"] for i in merchants[shop_id]["catalogue"] if i["name"] == DEMO_SETTLED_ITEM[1])
    taken = await redeem_item(services, item_id, DEMO_REALM, resident_id, "demo-take-1", "demo")
    shop = await services.merchants.get(shop_id)
    await services.vouchers.redeem(Merchant(shop_id, DEMO_REALM, shop["kind"], shop["status"]),
                                   taken.voucher["code"], None, "demo-redeem-1", "demo")
    settled = await services.settlements.settle(shop_id, datetime.now(timezone.utc), "demo", "demo-settle-1")
    return [_settlement_summary(settled)]


def _settlement_summary(settlement: dict[str, Any]) -> dict[str, Any]:
    return {"id": settlement["id"], "merchant_id": settlement["merchant_id"], "points": settlement["points"],
            "amount_fen": settlement["amount_fen"], "status": settlement["status"],
            "statement_pdf": f"/v1/settlements/{settlement['id']}/statement.pdf"}


async def _demo_stations(services: Services) -> dict[str, dict[str, Any]]:
    """One urban and one rural station, each in its town (found again on a second run)."""
    earning = services.earning
    stations: dict[str, dict[str, Any]] = {}
    existing_towns = {t["name"]: t for t in (await earning.towns(DEMO_REALM, None, None)).items}
    existing_stations = {s["name"]: s for s in (await earning.stations(DEMO_REALM, None, None)).items}
    for setting, town_name in DEMO_TOWNS.items():
        town = existing_towns.get(town_name) or await earning.create_town(DEMO_REALM, town_name)
        name = DEMO_STATIONS[setting]
        stations[setting] = (existing_stations.get(name)
                             or await earning.create_station(DEMO_REALM, town["id"], name, setting))
    return stations


async def _demo_residents(services: Services,
                          stations: dict[str, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    earning = services.earning
    residents: dict[int, dict[str, Any]] = {}
    for code, (name, setting) in DEMO_RESIDENTS.items():
        found = await earning.resident_by_code(DEMO_REALM, code)
        resident_id = found["id"] if found else (await earning.register_resident(
            DEMO_REALM, stations[setting]["id"], code, display_name=name))["id"]
        accounts = {a["asset"]: a["id"] for a in (await earning.resident(resident_id))["accounts"]}
        residents[resident_id] = {"name": name, "code": code, "station_id": stations[setting]["id"],
                                  "civic_account_id": accounts["civic"],
                                  "agri_account_id": accounts["agri"]}
    return residents


async def _demo_activities(services: Services, stations: dict[str, dict[str, Any]],
                           residents: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Past activities with their attendance recorded (idempotent: a second run replays)."""
    earning = services.earning
    by_code = {r["code"]: resident_id for resident_id, r in residents.items()}
    existing = {(a["title"], a["station_id"]): a
                for a in (await earning.activities(DEMO_REALM, None, None, None)).items}
    today = datetime.now(timezone.utc).replace(hour=1, minute=0, second=0, microsecond=0)
    activities: dict[int, dict[str, Any]] = {}
    for title, kind, setting, days_ago, hours, attendees in DEMO_ACTIVITIES:
        station_id = stations[setting]["id"]
        activity = existing.get((title, station_id))
        if activity is None:
            starts = today - timedelta(days=days_ago)
            activity = await earning.create_activity(DEMO_REALM, kind, station_id, title, starts,
                                                     starts + timedelta(hours=hours), "demo")
        outcome = await earning.record_attendance(
            activity, [(by_code[code], minutes) for code, minutes in attendees.items()], "demo",
            f"demo-attendance-{activity['id']}")
        activities[activity["id"]] = {"title": title, "activity_type": kind, "station_id": station_id,
                                      "awarded_points": outcome.body()["points"]}
    return activities


def describe(demo: dict[str, Any]) -> str:
    lines = [f"Demo realm {demo['realm']} {demo['realm_name']}", "", "Accounts:"]
    lines += [f"  {name:<16} {account_id}" for name, account_id in demo["accounts"].items()]
    lines += ["", "Residents:"]
    lines += [f"  {rid} {r['name']} ({r['code']})  civic account {r['civic_account_id']}"
              for rid, r in demo["residents"].items()]
    lines += ["", "Stations:"]
    lines += [f"  {setting:<6} {station_id}" for setting, station_id in demo["stations"].items()]
    lines += ["", "Activities (attendance recorded):"]
    lines += [f"  {aid} {a['title']} ({a['activity_type']})  {a['awarded_points']} points"
              for aid, a in demo["activities"].items()]
    lines += ["", "Merchants:"]
    lines += [f"  {mid} {m['name']}  civic account {m['civic_account_id']}"
              for mid, m in demo["merchants"].items()]
    lines += ["", "Catalogue (GET /v1/rewards?realm=...):"]
    lines += [f"  item {i['id']:<5} {i['name']}  {i['price']} {i['asset']}  at {m['name']}"
              for m in demo["merchants"].values() for i in m.get("catalogue", [])]
    lines += ["", "Settlements:"]
    lines += [f"  {s['id']} merchant {s['merchant_id']}: {s['points']} points, {s['amount_fen']} fen, "
              f"{s['status']}  {s['statement_pdf']}" for s in demo.get("settlements", [])]
    lines += ["", "Tokens (shown once; send as Authorization: Bearer <token>):"]
    lines += [f"  {role:<10} {token}" for role, token in demo["tokens"].items()]
    lines += ["", f"Coming up: activity {demo['upcoming_activity']} {DEMO_UPCOMING[0]}"]
    lines += ["", "Sign-in cards (one-time; open the link, or type the code on any page's sign-in):"]
    lines += [f"  {role:<10} {code}  /app/enrol#code={code}" for role, code in demo["cards"].items()]
    if "resource" in demo:
        resource = demo["resource"]
        lines += ["", f"Resource {resource['id']} {resource['title']}: slots {resource['slots']} "
                      "(book at /app/resources; the provider token marks them at /app/provider)"]
    lines += ["", "Web pages: /app/ (/app/activities, /app/organizer, /app/resident, /app/merchant, /app/audit, "
                  "/app/resources, /app/provider)"]
    return "\n".join(lines)
