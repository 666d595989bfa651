"""`pointsbank settle` and the merchants part of `pointsbank demo`."""
from __future__ import annotations

import asyncio
import json

from api.cli import main
from ledger import db
from ledger.keys import KeyRing
from ledger.service import Ledger
from merchants.service import Merchants, Settlements
from redemption.model import Merchant
from redemption.service import Vouchers
from tests.conftest import new_realm_code
from tests.redemption_support import fund_resident


def test_settle_closes_each_merchants_period_once(database_url, tmp_path, monkeypatch, capsys):
    realm = new_realm_code()

    async def setup() -> list[int]:
        engine = db.app_engine(database_url, pool_size=2)
        ledger = Ledger(engine)
        try:
            await ledger.open_realm(realm, "结算县")
            await Settlements(engine, ledger, KeyRing(tmp_path / "keys")).set_rate(realm, 3)
            registry = Merchants(engine, ledger)
            shops = [await registry.create(realm, "general", f"店{i}") for i in range(2)]
            await fund_resident(ledger, realm, 5)
            vouchers = Vouchers(engine, ledger, KeyRing(tmp_path / "keys"))
            voucher = await vouchers.issue(realm, 5, "civic", 40, None, None, "cli-issue", "test")
            await vouchers.redeem(Merchant(shops[0]["id"], realm, "general", "active"), voucher["code"], None,
                                  "cli-redeem", "test")
            return [s["id"] for s in shops]
        finally:
            await engine.dispose()

    shops = asyncio.run(setup())
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("POINTSBANK_KEY_DIR", str(tmp_path / "keys"))
    cutoff = "2099-01-01T00:00:00+08:00"
    assert main(["settle", "--realm", realm, "--to", cutoff]) == 2  # a future period is refused
    assert "settlement_period_future" in capsys.readouterr().err
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc).isoformat()
    assert main(["settle", "--realm", realm, "--to", now]) == 0
    first = capsys.readouterr().out
    assert f"merchant {shops[0]} 店0: settlement" in first and "40 points = 1.20 yuan" in first
    assert "(UTC+08:00)" in first  # the period in the realm's local time
    assert main(["settle", "--realm", realm, "--to", now]) == 0
    assert first.count("settlement") == capsys.readouterr().out.count("(already settled)") == 2


def test_demo_makes_merchants_a_catalogue_and_one_settled_period_twice_safely(database_url, tmp_path,
                                                                                monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)  # signs with the session's keys (the demo seals)
    monkeypatch.setenv("POINTSBANK_DATA_DIR", str(tmp_path / "data"))
    assert main(["demo", "--json"]) == 0
    demo = json.loads(capsys.readouterr().out)
    kinds = {m["kind"] for m in demo["merchants"].values()}
    assert kinds == {"general", "agri_shop", "service_provider"}
    assert all(m["catalogue"] for m in demo["merchants"].values())
    assert len(demo["settlements"]) == 1 and demo["settlements"][0]["points"] > 0
    assert main(["demo", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["settlements"] == demo["settlements"]
    assert [i["id"] for m in again["merchants"].values() for i in m["catalogue"]] == \
        [i["id"] for m in demo["merchants"].values() for i in m["catalogue"]]
    assert main(["demo"]) == 0
    printed = capsys.readouterr().out
    assert "Catalogue" in printed and f"{demo['settlements'][0]['id']} merchant" in printed
