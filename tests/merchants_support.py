"""Fixtures and helpers for the catalogue and settlement tests (imported by their modules)."""
from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from api.catalogue_redemption import ItemTaken, redeem_item
from merchants.service import Catalogue, Merchants, Settlements
from redemption.service import Vouchers
from tests.redemption_support import Clock, fund_resident  # noqa: F401

RATE_FEN_PER_POINT = 5


@pytest.fixture
def services(engine, ledger, key_ring):
    """The services the api layer composes (catalogue redemption needs several)."""
    clock = Clock()
    return SimpleNamespace(engine=engine, ledger=ledger, keys=key_ring, clock=clock,
                           merchants=Merchants(engine, ledger), catalogue=Catalogue(engine, clock),
                           vouchers=Vouchers(engine, ledger, key_ring, clock),
                           settlements=Settlements(engine, ledger, key_ring, clock))


async def take(services, item_id: int, realm: str, resident_id: int, key: str | None = None) -> ItemTaken:
    return await redeem_item(services, item_id, realm, resident_id, key or f"take-{uuid.uuid4().hex}", "test")


async def redeem(services, merchant: dict, code: str, amount: int | None = None) -> dict:
    from redemption import model

    shopper = model.Merchant(merchant["id"], merchant["realm"], merchant["kind"], merchant["status"])
    return await services.vouchers.redeem(shopper, code, amount, f"redeem-{uuid.uuid4().hex}", "test")


async def spend(services, realm: str, merchant: dict, resident_id: int, amount: int, asset: str = "civic") -> dict:
    """A voucher issued for the merchant and redeemed there at once."""
    from redemption import model

    shopper = model.Merchant(merchant["id"], realm, merchant["kind"], merchant["status"])
    voucher = await services.vouchers.issue(realm, resident_id, asset, amount, shopper, None,
                                            f"issue-{uuid.uuid4().hex}", "test")
    return await redeem(services, merchant, voucher["code"])
