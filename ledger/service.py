"""The ledger's services: each call owns one database transaction (or one group commit)."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger import db, errors, model, paging, repository
from ledger.cache import BoundedCache
from ledger.group_commit import GroupCommit
from ledger.paging import Page
from ledger.reads import Reads

ACCOUNT_CACHE_SIZE_MAX = 100_000
HISTORY_CURSOR = paging.Cursor("p1")


class AccountDirectory:
    """Immutable facts about accounts (realm, kind, asset, floor), cached in process."""

    def __init__(self, size_max: int = ACCOUNT_CACHE_SIZE_MAX) -> None:
        self._metas: BoundedCache[int, model.AccountMeta] = BoundedCache(size_max)

    def cached(self, account_ids: list[int]) -> dict[int, model.AccountMeta]:
        found = {i: self._metas.get(i) for i in account_ids}
        return {i: meta for i, meta in found.items() if meta is not None}

    async def lookup(self, source: AsyncConnection | Reads,
                     account_ids: list[int]) -> dict[int, model.AccountMeta]:
        """The accounts' facts, those not cached read on `source` (the caller's
        transaction's connection, or `Reads`)."""
        known = self.cached(account_ids)
        missing = [i for i in account_ids if i not in known]
        if missing:
            found = (await repository.account_metas_by_id(source, missing) if isinstance(source, Reads)
                     else await repository.account_metas(source, missing))
            for meta in found:
                self.remember(meta)
                known[meta.id] = meta
        return known

    def remember(self, meta: model.AccountMeta) -> None:
        self._metas.put(meta.id, meta)


def meta_of(account: dict[str, Any]) -> model.AccountMeta:
    return model.AccountMeta(account["realm"], account["id"], account["kind"],
                             account["asset"], account["floor"])


class Ledger:
    def __init__(self, engine: AsyncEngine, group_commit: GroupCommit | None = None,
                 reads: Reads | None = None) -> None:
        self.engine = engine
        self.reads = reads or Reads(engine)
        self.directory = AccountDirectory()
        self._group_commit = group_commit

    async def close(self) -> None:
        if self._group_commit is not None:
            await self._group_commit.close()

    # realms and accounts -------------------------------------------------------------

    async def open_realm(self, code: str, name: str,
                         timezone: str = model.DEFAULT_TIMEZONE) -> dict[str, Any]:
        """A realm with its system accounts (funding, budget, hold, settled) per asset."""
        model.check_realm_code(code)
        if not 1 <= len(name) <= model.REALM_NAME_LENGTH_MAX:
            raise errors.InvalidInput("a realm's name is 1 to 200 characters")

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            await repository.insert_realm(conn, code, name, timezone)
            for asset in model.ASSETS:
                for kind in model.SYSTEM_ACCOUNT_KINDS:
                    await repository.insert_account(
                        conn, realm=code, kind=kind, asset=asset,
                        floor=None if kind in model.UNBOUNDED_KINDS else 0,
                        label=f"{kind} {asset}")
            return await repository.find_realm(conn, code)

        return await db.in_transaction(self.engine, work)

    async def realm(self, code: str) -> dict[str, Any]:
        found = await db.read(self.engine, lambda conn: repository.find_realm(conn, code))
        if found is None:
            raise errors.RealmNotFound(f"no realm {code}")
        return found

    async def create_account(self, realm: str, kind: str, asset: str, floor: int | None = None,
                             label: str | None = None, **owner: Any) -> dict[str, Any]:
        return await db.in_transaction(
            self.engine, lambda conn: self.create_account_in(conn, realm, kind, asset, floor,
                                                             label, **owner))

    async def create_account_in(self, conn: AsyncConnection, realm: str, kind: str, asset: str,
                                floor: int | None = None, label: str | None = None,
                                **owner: Any) -> dict[str, Any]:
        """Create an account inside the caller's transaction (for composite services)."""
        model.check_realm_code(realm)
        if kind not in model.ACCOUNT_KINDS:
            raise errors.InvalidInput(f"unknown account kind {kind!r}")
        if asset not in model.ASSETS:
            raise errors.InvalidInput(f"unknown asset {asset!r}")
        if label is not None and len(label) > model.LABEL_LENGTH_MAX:
            raise errors.InvalidInput(f"label is at most {model.LABEL_LENGTH_MAX} characters")
        floor = model.check_floor(kind, floor)
        model.check_owner(kind, realm, owner.get("resident_id"), owner.get("merchant_id"),
                          owner.get("counterpart_realm"))
        for code in {realm, owner.get("counterpart_realm")} - {None}:
            if await repository.find_realm(conn, code) is None:
                raise errors.UnknownRealm(f"no realm {code}")
        account = await repository.insert_account(
            conn, realm=realm, kind=kind, asset=asset, floor=floor,
            label=label, **owner)
        self.directory.remember(meta_of(account))
        return account

    async def account(self, account_id: int) -> dict[str, Any]:
        found = await repository.account_by_id(self.reads, account_id)
        if found is None:
            raise errors.AccountNotFound(f"no account {account_id}")
        return found

    async def owned_account(self, realm: str, kind: str, asset: str,
                            **owner: int) -> dict[str, Any]:
        """The resident's or merchant's account of `asset` (`resident_id=` or `merchant_id=`)."""
        found = await db.read(self.engine, lambda conn: repository.find_owned_account(
            conn, realm, kind, asset, **owner))
        if found is None:
            raise errors.AccountNotFound(f"no {kind} {asset} account for {owner}")
        return found

    async def system_account(self, realm: str, kind: str, asset: str) -> dict[str, Any]:
        found = await db.read(
            self.engine, lambda conn: repository.find_system_account(conn, realm, kind, asset))
        if found is None:
            raise errors.AccountNotFound(f"realm {realm} has no {kind} {asset} account")
        return found

    # entries ---------------------------------------------------------------------------

    async def prepare(self, conn: AsyncConnection | None,
                      draft: model.EntryDraft) -> model.EntryDraft:
        """Check a draft against the rules (no write) and stamp its request hash. Account
        facts come from the cache; a miss reads them on `conn` (or through `reads`)."""
        model.check_shape(draft)
        ids = draft.account_ids()
        metas = self.directory.cached(ids)
        if len(metas) < len(ids):
            if conn is None:
                metas = await self.directory.lookup(self.reads, ids)
            else:
                metas = await self.directory.lookup(conn, ids)
        model.check_against_accounts(draft, metas)
        return replace(draft, request_hash=model.request_hash(draft))

    async def post(self, draft: model.EntryDraft) -> dict[str, Any]:
        """Post one entry in its own transaction (folded into a group commit when the
        ledger has one). A replayed idempotency key returns the first result."""
        draft = await self.prepare(None, draft)
        if self._group_commit is not None:
            return await self._group_commit.submit(repository.draft_json(draft))
        return await db.in_one_statement(self.engine, lambda conn: repository.post_entry(conn, draft))

    async def post_in(self, conn: AsyncConnection, draft: model.EntryDraft) -> dict[str, Any]:
        """Post one entry inside the caller's transaction (for composite services)."""
        draft = await self.prepare(conn, draft)
        return await repository.post_entry(conn, draft)

    async def lock_in(self, conn: AsyncConnection, realm: str, account_ids: list[int]) -> None:
        """Lock accounts of `realm` in the caller's transaction, in (realm, id) order, as
        posting to them would: for a composite service that must read what decides an
        amount (a daily cap, say) after no other payer of these accounts can move them,
        then post with `post_in` (its own lock is then free)."""
        await repository.lock_accounts(conn, realm, account_ids)

    async def post_in_then_insert(self, conn: AsyncConnection, draft: model.EntryDraft, table: Table,
                                  entry_column: str, **values: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """Post one entry inside the caller's transaction and insert, in the same statement,
        the row of `table` that names it in `entry_column` (a voucher and its hold entry, a
        redemption and its capture): the entry's account locks are held for that statement
        and the COMMIT only. Returns (row, entry)."""
        draft = await self.prepare(conn, draft)
        return await repository.post_entry_then_insert(conn, draft, table, entry_column, **values)

    async def reverse(self, original: dict[str, Any], created_by: str,
                      idempotency_key: str | None, memo: str | None = None) -> dict[str, Any]:
        """Post the mirror of an entry (as `entry()` returns it), at most once per entry."""
        entry_id = original["id"]
        if original["kind"] not in model.REVERSIBLE_KINDS:
            raise errors.EntryNotReversible(
                f"{original['kind']} entries are undone by their own operation, not reversed",
                entry_id=entry_id)
        lines = tuple(model.Line(p["account_id"], p["amount"]) for p in original["postings"])
        draft = model.EntryDraft(
            realm=original["realm"], kind="reversal", lines=model.mirror_lines(lines),
            created_by=created_by, idempotency_key=idempotency_key,
            memo=memo or f"reversal of entry {entry_id}", reverses_entry_id=entry_id)
        return await self.post(draft)

    async def entry(self, entry_id: int) -> dict[str, Any]:
        found = await db.read(self.engine, lambda conn: repository.find_entry(conn, entry_id))
        if found is None:
            raise errors.EntryNotFound(f"no entry {entry_id}")
        return found

    # history ---------------------------------------------------------------------------

    async def history(self, account: dict[str, Any], cursor: str | None,
                      limit: int | None) -> Page:
        before = HISTORY_CURSOR.decode(cursor)
        size = paging.check_page_size(limit)
        rows = await repository.postings_page(self.reads, account["realm"], account["id"], before,
                                              paging.fetch_size(size))
        return paging.page_of(rows, size, HISTORY_CURSOR.after("account_seq"))

    async def balance_at(self, account: dict[str, Any], at: datetime) -> int:
        if at.tzinfo is None:
            raise errors.InvalidTimestamp("timestamps carry a UTC offset, e.g. 2026-11-28T09:00:00+08:00")
        return await db.read(self.engine, lambda conn: repository.balance_at(
            conn, account["realm"], account["id"], at))
