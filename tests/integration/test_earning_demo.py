"""`pointsbank demo`: real stations, residents who earned through awards, safe twice."""
from __future__ import annotations

from api.app import build_services
from api.demo import DEMO_REALM, describe, load_demo
from api.settings import Settings


async def test_demo_loads_twice_with_real_awards(database_url, tmp_path, key_dir):
    services = build_services(database_url, Settings(database_url=database_url, data_dir=tmp_path, key_dir=key_dir))
    try:
        first = await load_demo(services)
        second = await load_demo(services)
        assert {"realm", "accounts", "residents", "merchants", "tokens", "stations",
                "activities"} <= set(first)
        assert first["residents"] == second["residents"] and first["activities"] == second["activities"]
        assert set(first["stations"]) == {"urban", "rural"}
        awarded = sum(a["awarded_points"] for a in first["activities"].values())
        balances = 0
        for resident_id, resident in first["residents"].items():
            account = await services.ledger.account(resident["civic_account_id"])
            assert account["balance"] > 0 and account["resident_id"] == resident_id
            balances += account["balance"]
        spent = sum(settlement["points"] for settlement in first["settlements"])  # the demo's shopping
        assert spent > 0 and balances + spent == awarded
        budgets = {b["asset"]: b for b in await services.earning.budgets(DEMO_REALM)}
        assert budgets["civic"]["spent_total"] == awarded
        assert "Stations:" in describe(first)
        assert first["upcoming_activity"] == second["upcoming_activity"]
        assert first["resource"] == second["resource"] and len(first["resource"]["slots"]) == 4
        assert first["cards"]["resident"] != second["cards"]["resident"]        # one-time codes, new each run
        claimed = await services.access.claim(first["cards"]["resident"], "test")
        assert claimed["role"] == "resident" and claimed["kind"] == "device"
    finally:
        await services.close()
