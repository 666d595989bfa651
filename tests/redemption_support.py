"""Fixtures and helpers for the voucher tests (imported by their modules)."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

import pytest

from earning.service import Earning
from ledger import model as ledger_model
from ledger.keys import KeyRing
from merchants.service import Merchants
from redemption import model
from redemption.service import Vouchers

STARTING_POINTS = 1_000
GROUP_WRITERS = 2


class Clock:
    """A settable clock for the service (the database keeps its own `now()`)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset


@pytest.fixture(scope="session")
def key_ring(tmp_path_factory) -> KeyRing:
    return KeyRing(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=[0, 2], ids=["one-commit-each", "group-commit"])
async def vouchers(request, engine, ledger, key_ring, clock):
    """The service both ways: each capture its own transaction, and group-committed."""
    service = Vouchers(engine, ledger, key_ring, clock, capture_writers=request.param)
    yield service
    await service.close()


@pytest.fixture
async def grouped(engine, ledger, key_ring, clock):
    """The service with its group commits (two writers), for the batch tests."""
    service = Vouchers(engine, ledger, key_ring, clock, capture_writers=GROUP_WRITERS)
    yield service
    await service.close()


@pytest.fixture
def merchants(engine, ledger) -> Merchants:
    return Merchants(engine, ledger)


async def fund_resident(ledger, realm: str, resident_id: int, points: int = STARTING_POINTS,
                        asset: str = "civic") -> dict:
    """A resident account of `asset` with `points` earned from a funded budget."""
    funding = await ledger.system_account(realm, "funding", asset)
    budget = await ledger.system_account(realm, "budget", asset)
    await ledger.post(ledger_model.EntryDraft(
        realm=realm, kind="fund", created_by="test",
        lines=(ledger_model.Line(funding["id"], -points), ledger_model.Line(budget["id"], points))))
    account = await ledger.create_account(realm, "resident", asset, resident_id=resident_id)
    await ledger.post(ledger_model.EntryDraft(
        realm=realm, kind="earn", created_by="test",
        lines=(ledger_model.Line(budget["id"], -points), ledger_model.Line(account["id"], points))))
    return await ledger.account(account["id"])


async def registered_resident(engine, ledger, realm: str, points: int = STARTING_POINTS) -> int:
    """A resident registered at a new station of `realm` (as an organizer finds it), with
    `points` civic points earned from a funded budget."""
    earning = Earning(engine, ledger)
    town = await earning.create_town(realm, f"街道{secrets.token_hex(3)}")
    station = await earning.create_station(realm, town["id"], f"社区{secrets.token_hex(3)}", "urban")
    resident = (await earning.register_resident(realm, station["id"], f"R{secrets.token_hex(6)}"))["id"]
    funding = await ledger.system_account(realm, "funding", "civic")
    budget = await ledger.system_account(realm, "budget", "civic")
    wallet = await ledger.owned_account(realm, "resident", "civic", resident_id=resident)
    for source, target in ((funding, budget), (budget, wallet)):
        await ledger.post(ledger_model.EntryDraft(
            realm=realm, kind="fund" if source is funding else "earn", created_by="test",
            lines=(ledger_model.Line(source["id"], -points), ledger_model.Line(target["id"], points))))
    return resident


async def shop(merchants: Merchants, realm: str, kind: str = "general", name: str = "商店") -> model.Merchant:
    made = await merchants.create(realm, kind, name)
    return model.Merchant(made["id"], realm, kind, made["status"])


async def balance(ledger, account_id: int) -> int:
    return (await ledger.account(account_id))["balance"]
