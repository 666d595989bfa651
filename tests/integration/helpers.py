"""Small builders shared by the database tests."""
from __future__ import annotations

from ledger import model
from ledger.service import Ledger


async def funded_budget(ledger: Ledger, realm: str, points: int, asset: str = "civic") -> int:
    """Fund the realm's budget; return the budget account id."""
    funding = await ledger.system_account(realm, "funding", asset)
    budget = await ledger.system_account(realm, "budget", asset)
    await ledger.post(model.EntryDraft(
        realm=realm, kind="fund", created_by="test",
        lines=(model.Line(funding["id"], -points), model.Line(budget["id"], points))))
    return budget["id"]


async def residents(ledger: Ledger, realm: str, count: int, asset: str = "civic",
                    first_id: int = 1) -> list[int]:
    ids = []
    for resident_id in range(first_id, first_id + count):
        account = await ledger.create_account(realm, "resident", asset, resident_id=resident_id)
        ids.append(account["id"])
    return ids


def earn(realm: str, budget_id: int, account_id: int, points: int, **extra) -> model.EntryDraft:
    return model.EntryDraft(realm=realm, kind="earn", created_by="test",
                            lines=(model.Line(budget_id, -points), model.Line(account_id, points)),
                            **extra)


def move(realm: str, source: int, target: int, points: int, **extra) -> model.EntryDraft:
    """An adjustment moving points between two wallets."""
    return model.EntryDraft(realm=realm, kind="adjustment", created_by="test",
                            lines=(model.Line(source, -points), model.Line(target, points)),
                            **extra)
