"""The merchant registry: create (opening the merchant's ledger accounts in the same
transaction), read, list, change status. One transaction per call."""
from __future__ import annotations

import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger import db
from ledger.model import check_realm_code
from ledger.service import Ledger, Page
from merchants import errors, model, repository


MERCHANT_CACHE_TTL_S = 5.0  # how stale a cached merchant may be for an early check
MERCHANT_CACHE_SIZE_MAX = 10_000


class Merchants:
    def __init__(self, engine: AsyncEngine, ledger: Ledger) -> None:
        self.engine = engine
        self.ledger = ledger
        self._recent: dict[int, tuple[float, dict[str, Any]]] = {}

    async def create(self, realm: str, kind: str, name: str, contact: str | None = None,
                     station_id: int | None = None) -> dict[str, Any]:
        """A merchant with its merchant accounts: civic for every kind, agri for agri shops."""
        check_realm_code(realm)
        model.check_new(kind, name, contact)

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            merchant = await repository.insert_merchant(
                conn, realm=realm, kind=kind, name=name.strip(), contact=contact,
                station_id=station_id)
            accounts = {}
            for asset in model.ASSETS_BY_KIND[kind]:
                account = await self.ledger.create_account_in(
                    conn, realm, "merchant", asset, label=merchant["name"][:200],
                    merchant_id=merchant["id"])
                accounts[asset] = account["id"]
            return {**merchant, "accounts": accounts}

        return await db.in_transaction(self.engine, work)

    async def get(self, merchant_id: int) -> dict[str, Any]:
        found = await db.read(self.engine, lambda conn: repository.find_merchant(conn, merchant_id))
        if found is None:
            raise errors.MerchantNotFound(f"no merchant {merchant_id}", merchant_id=merchant_id)
        return found

    async def get_recent(self, merchant_id: int) -> dict[str, Any]:
        """The merchant as read at most `MERCHANT_CACHE_TTL_S` ago, for hot paths whose
        decisive check is in the database (a redemption refuses an inactive merchant in
        SQL); its realm and kind never change."""
        now = time.monotonic()
        cached = self._recent.get(merchant_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = await self.get(merchant_id)
        if len(self._recent) >= MERCHANT_CACHE_SIZE_MAX:
            self._recent.clear()
        self._recent[merchant_id] = (now + MERCHANT_CACHE_TTL_S, found)
        return found

    async def find_by_name(self, realm: str, name: str) -> dict[str, Any] | None:
        return await db.read(self.engine, lambda conn: repository.find_by_name(conn, realm, name))

    async def set_status(self, merchant_id: int, status: str) -> dict[str, Any]:
        async def work(conn: AsyncConnection) -> dict[str, Any]:
            found = await repository.find_merchant(conn, merchant_id, for_update=True)
            if found is None:
                raise errors.MerchantNotFound(f"no merchant {merchant_id}", merchant_id=merchant_id)
            model.check_transition(found["status"], status)
            self._recent.pop(merchant_id, None)
            if found["status"] == status:
                return found
            return await repository.set_status(conn, found["realm"], merchant_id, status)

        return await db.in_transaction(self.engine, work)

    async def page(self, realm: str, cursor: str | None, limit: int | None,
                   kind: str | None = None, status: str | None = None) -> Page:
        check_realm_code(realm)
        if kind is not None and kind not in model.KINDS:
            raise errors.InvalidMerchantKind(f"kind is one of {', '.join(model.KINDS)}")
        if status is not None and status not in model.STATUSES:
            raise errors.InvalidMerchantStatus(f"status is one of {', '.join(model.STATUSES)}")
        after_id = model.decode_cursor(cursor)
        size = model.check_page_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.merchants_page(
            conn, realm, after_id, size, kind, status))
        return Page(rows, model.encode_cursor(rows[-1]["id"]) if len(rows) == size else None)


