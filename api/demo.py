"""Demo data: one realm with funded budgets, residents with points, merchants, and a token
per role, so a newcomer can try the API at once. Safe to load twice: what exists is
reused, and fresh tokens are printed each time (tokens are shown only once)."""
from __future__ import annotations

from typing import Any

from api.app import Services
from api.auth import create_token
from ledger import errors, model

DEMO_REALM = "430104"
DEMO_REALM_NAME = "长沙市岳麓区"
DEMO_FUNDING = {"civic": 1_000_000, "agri": 200_000}
DEMO_RESIDENTS = {1001: "张三", 1002: "李四", 1003: "王五"}
DEMO_RESIDENT_EARNINGS = {1001: 120, 1002: 45, 1003: 30}
DEMO_MERCHANTS = {2001: "岳麓供销超市", 2002: "莲花镇助农店"}


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
    for merchant_id, name in DEMO_MERCHANTS.items():
        account = await _owned_account(services, "merchant", "civic", merchant_id=merchant_id, label=name)
        merchants[merchant_id] = {"name": name, "civic_account_id": account["id"]}
    first_resident, first_merchant = next(iter(DEMO_RESIDENTS)), next(iter(DEMO_MERCHANTS))
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
    await services.checkpoints.seal(DEMO_REALM)  # auditors find a signed head at once
    return {"realm": DEMO_REALM, "realm_name": DEMO_REALM_NAME, "accounts": accounts,
            "residents": residents, "merchants": merchants, "tokens": tokens}


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
    lines += ["", "Tokens (shown once; send as Authorization: Bearer <token>):"]
    lines += [f"  {role:<10} {token}" for role, token in demo["tokens"].items()]
    return "\n".join(lines)
