"""Demo data: one realm with funded budgets, residents with points, merchants, and a token
per role, so a newcomer can try the API at once. Safe to load twice: what exists is
reused, and fresh tokens are printed each time (tokens are shown only once)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from api.app import Services
from api.auth import create_token
from ledger import errors, model

DEMO_REALM = "430104"
DEMO_REALM_NAME = "长沙市岳麓区"
DEMO_FUNDING = {"civic": 1_000_000, "agri": 200_000}
DEMO_RESIDENTS = {1001: "张三", 1002: "李四", 1003: "王五"}
DEMO_RESIDENT_EARNINGS = {1001: 120, 1002: 45, 1003: 30}
DEMO_MERCHANTS = {"岳麓供销超市": "general", "莲花镇助农店": "agri_shop",
                  "岳麓社区卫生服务中心": "service_provider"}  # registry merchants: name -> kind
# Rewards catalogue per merchant name: (item, points price, asset, stock or None for unlimited)
DEMO_CATALOGUE = {
    "岳麓供销超市": [("一袋大米 5kg", 100, "civic", 20), ("食用油 1L", 60, "civic", 30), ("洗衣粉", 30, "civic", None)],
    "莲花镇助农店": [("本地土鸡蛋 30枚", 80, "agri", 15), ("有机青菜 2kg", 40, "civic", None)],
    "岳麓社区卫生服务中心": [("优先预约体检", 50, "civic", 10)],
}
DEMO_RATE_FEN_PER_POINT = 10   # 1 point = 0.10 yuan
DEMO_SETTLED_ITEM = ("岳麓供销超市", "洗衣粉")   # a resident takes it and the shop redeems it, then settles


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
    residents = {}
    for resident_id, name in DEMO_RESIDENTS.items():
        account = await _owned_account(services, "resident", "civic", resident_id=resident_id, label=name)
        await ledger.post(model.EntryDraft(
            realm=DEMO_REALM, kind="earn", created_by="demo",
            idempotency_key=f"demo-earn-{resident_id}", memo="演示积分",
            lines=(model.Line(accounts["budget_civic"], -DEMO_RESIDENT_EARNINGS[resident_id]),
                   model.Line(account["id"], DEMO_RESIDENT_EARNINGS[resident_id]))))
        residents[resident_id] = {"name": name, "civic_account_id": account["id"]}
    merchants = {}
    for name, kind in DEMO_MERCHANTS.items():
        merchant = (await services.merchants.find_by_name(DEMO_REALM, name)
                    or await services.merchants.create(DEMO_REALM, kind, name))
        account = await ledger.owned_account(DEMO_REALM, "merchant", "civic", merchant_id=merchant["id"])
        merchants[merchant["id"]] = {"name": name, "kind": kind, "civic_account_id": account["id"]}
    settlements = await _load_catalogue_and_settlement(services, merchants)
    first_resident, first_merchant = next(iter(DEMO_RESIDENTS)), next(iter(merchants))
    engine = services.engine
    tokens = {
        "admin": await create_token(engine, "admin", DEMO_REALM, label="demo admin"),
        "organizer": await create_token(engine, "organizer", DEMO_REALM, label="demo organizer"),
        "merchant": await create_token(engine, "merchant", DEMO_REALM, merchant_id=first_merchant,
                                       label="demo merchant"),
        "auditor": await create_token(engine, "auditor", DEMO_REALM, label="demo auditor"),
        "resident": await create_token(engine, "resident", DEMO_REALM, resident_id=first_resident,
                                       label="demo resident"),
    }
    return {"realm": DEMO_REALM, "realm_name": DEMO_REALM_NAME, "accounts": accounts,
            "residents": residents, "merchants": merchants, "settlements": settlements, "tokens": tokens}


async def _load_catalogue_and_settlement(services: Services, merchants: dict[int, Any]) -> list[dict[str, Any]]:
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
    taken = await redeem_item(services, item_id, DEMO_REALM, next(iter(DEMO_RESIDENTS)), "demo-take-1", "demo")
    shop = await services.merchants.get(shop_id)
    await services.vouchers.redeem(Merchant(shop_id, DEMO_REALM, shop["kind"], shop["status"]),
                                   taken["voucher"]["code"], None, "demo-redeem-1", "demo")
    settled = await services.settlements.settle(shop_id, datetime.now(timezone.utc), "demo", "demo-settle-1")
    return [_settlement_summary(settled)]


def _settlement_summary(settlement: dict[str, Any]) -> dict[str, Any]:
    return {"id": settlement["id"], "merchant_id": settlement["merchant_id"], "points": settlement["points"],
            "amount_fen": settlement["amount_fen"], "status": settlement["status"],
            "statement_pdf": f"/v1/settlements/{settlement['id']}/statement.pdf"}


async def _owned_account(services: Services, kind: str, asset: str, label: str,
                         **owner: int) -> dict[str, Any]:
    try:
        return await services.ledger.create_account(DEMO_REALM, kind, asset, label=label, **owner)
    except errors.AccountExists:
        return await services.ledger.owned_account(DEMO_REALM, kind, asset, **owner)


def describe(demo: dict[str, Any]) -> str:
    lines = [f"Demo realm {demo['realm']} {demo['realm_name']}", "", "Accounts:"]
    lines += [f"  {name:<16} {account_id}" for name, account_id in demo["accounts"].items()]
    lines += ["", "Residents:"]
    lines += [f"  {rid} {r['name']}  civic account {r['civic_account_id']}"
              for rid, r in demo["residents"].items()]
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
    return "\n".join(lines)
