"""Each in-process cache, and where what it holds can change, the drop that keeps it true."""
from __future__ import annotations

from merchants.service import MERCHANT_CACHE_SIZE_MAX, MERCHANT_CACHE_TTL_S, Merchants


async def test_a_status_change_drops_the_cached_merchant_at_once(engine, ledger, realm):
    merchants = Merchants(engine, ledger)
    shop = await merchants.create(realm, "general", "供销超市")
    assert (await merchants.get_recent(shop["id"]))["status"] == "active"       # now cached
    await merchants.set_status(shop["id"], "suspended")
    assert (await merchants.get_recent(shop["id"]))["status"] == "suspended"    # well within the TTL
    await merchants.set_status(shop["id"], "active")
    assert (await merchants.get_recent(shop["id"]))["status"] == "active"


async def test_the_merchant_cache_is_bounded_and_expires(engine, ledger):
    merchants = Merchants(engine, ledger)
    assert merchants._recent.size_max == MERCHANT_CACHE_SIZE_MAX
    assert merchants._recent.ttl_s == MERCHANT_CACHE_TTL_S

