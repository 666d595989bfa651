"""SQL for the ledger. Every function runs inside the caller's connection/transaction."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import model
from ledger.schema import accounts, entries, postings, realms
from ledger.reads import Reads

_POST_ENTRY = text("SELECT ledger_post_entry(CAST(:request AS jsonb))")

ACCOUNT_COLUMNS = (accounts.c.realm, accounts.c.id, accounts.c.kind, accounts.c.asset,
                   accounts.c.floor, accounts.c.balance, accounts.c.posting_count,
                   accounts.c.resident_id, accounts.c.merchant_id,
                   accounts.c.counterpart_realm, accounts.c.label, accounts.c.created_at)


def draft_json(draft: model.EntryDraft) -> dict[str, Any]:
    return {
        "realm": draft.realm, "kind": draft.kind,
        "idempotency_key": draft.idempotency_key,
        "request_hash": draft.request_hash.hex() if draft.idempotency_key and draft.request_hash else None,
        "reverses_entry_id": draft.reverses_entry_id,
        "reference": draft.reference, "memo": draft.memo, "created_by": draft.created_by,
        "postings": [{"account_id": line.account_id, "amount": line.amount}
                     for line in draft.lines],
    }


async def post_entry(conn: AsyncConnection, draft: model.EntryDraft) -> dict[str, Any]:
    """Post one entry in the caller's transaction; database refusals raise."""
    result = await conn.execute(_POST_ENTRY, {"request": json.dumps(draft_json(draft))})
    return result.scalar_one()


async def lock_accounts(conn: AsyncConnection, realm: str, account_ids: list[int]) -> None:
    """Lock the realm's accounts in (realm, id) order until the transaction ends
    (`ledger_lock_accounts`, the posting path's own lock)."""
    await conn.execute(text(
        "SELECT 1 FROM ledger_lock_accounts(CAST(:realms AS text[]), CAST(:ids AS bigint[]))"),
        {"realms": [realm] * len(account_ids), "ids": account_ids})


async def post_entry_then_insert(conn: AsyncConnection, draft: model.EntryDraft, table: Table,
                                 entry_column: str, **values: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Post one entry (`ledger_post_entry`) and insert the row of `table` that names it in
    `entry_column`, in one statement: the accounts the entry locks (a realm's hold
    account, say) stay locked only for this statement and the COMMIT. Returns (row, entry)."""
    dialect = postgresql.dialect()
    names = list(values)
    params = ", ".join(f"CAST(:{name} AS {table.c[name].type.compile(dialect=dialect)})" for name in names)
    statement = text(
        "WITH posted AS (SELECT ledger_post_entry(CAST(:pb_request AS jsonb)) AS entry), "
        f"inserted AS (INSERT INTO {table.name} ({', '.join(names)}, {entry_column}) "
        f"SELECT {params}, (posted.entry->>'id')::bigint FROM posted RETURNING *) "
        "SELECT inserted.*, posted.entry AS pb_entry FROM inserted, posted")
    row = dict((await conn.execute(statement, {"pb_request": json.dumps(draft_json(draft)), **values})).one()._mapping)
    return row, row.pop("pb_entry")


async def insert_realm(conn: AsyncConnection, code: str, name: str, timezone: str) -> None:
    await conn.execute(insert(realms).values(code=code, name=name, timezone=timezone))


async def find_realm(conn: AsyncConnection, code: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(realms).where(realms.c.code == code))).first()
    return dict(row._mapping) if row else None


async def insert_account(conn: AsyncConnection, **values: Any) -> dict[str, Any]:
    row = (await conn.execute(insert(accounts).values(**values).returning(*ACCOUNT_COLUMNS))).one()
    return dict(row._mapping)


ACCOUNT_BY_ID = (f"SELECT {', '.join(column.name for column in ACCOUNT_COLUMNS)} FROM accounts "
                 "WHERE id = %s LIMIT 1")


async def account_by_id(reads: Reads, account_id: int) -> dict[str, Any] | None:
    """An account by id through `reads` (the hot path of every account read)."""
    return await reads.row(ACCOUNT_BY_ID, (account_id,))


async def find_system_account(conn: AsyncConnection, realm: str, kind: str,
                              asset: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(*ACCOUNT_COLUMNS).where(
        accounts.c.realm == realm, accounts.c.kind == kind, accounts.c.asset == asset))).first()
    return dict(row._mapping) if row else None


async def find_owned_account(conn: AsyncConnection, realm: str, kind: str, asset: str,
                             resident_id: int | None = None,
                             merchant_id: int | None = None) -> dict[str, Any] | None:
    owner = (accounts.c.resident_id == resident_id if kind == "resident"
             else accounts.c.merchant_id == merchant_id)
    row = (await conn.execute(select(*ACCOUNT_COLUMNS).where(
        accounts.c.realm == realm, accounts.c.kind == kind, accounts.c.asset == asset,
        owner))).first()
    return dict(row._mapping) if row else None


async def account_metas_by_id(reads: Reads, account_ids: list[int]) -> list[model.AccountMeta]:
    """What an entry is checked against, through `reads` (an account cache miss on the
    hot path of every entry)."""
    rows = await reads.rows("SELECT realm, id, kind, asset, floor FROM accounts WHERE id = ANY(%s)",
                            (account_ids,))
    return [model.AccountMeta(**row) for row in rows]


async def account_metas(conn: AsyncConnection, account_ids: list[int]) -> list[model.AccountMeta]:
    rows = await conn.execute(
        select(accounts.c.realm, accounts.c.id, accounts.c.kind, accounts.c.asset,
               accounts.c.floor).where(accounts.c.id.in_(account_ids)))
    return [model.AccountMeta(**row._mapping) for row in rows]


async def find_entry(conn: AsyncConnection, entry_id: int) -> dict[str, Any] | None:
    realm = (await conn.execute(select(entries.c.realm).where(entries.c.id == entry_id))).scalar()
    if realm is None:
        return None
    return (await conn.execute(text("SELECT ledger_entry_json(:realm, :id)"),
                               {"realm": realm, "id": entry_id})).scalar_one()


POSTINGS_PAGE = (
    "SELECT p.account_seq, p.entry_id, e.kind, p.amount, p.balance_after, p.created_at, e.memo, e.reference "
    "FROM postings p JOIN entries e ON e.realm = p.realm AND e.id = p.entry_id "
    "WHERE p.realm = %s AND p.account_id = %s AND p.account_seq < %s "
    "ORDER BY p.account_seq DESC LIMIT %s")
ACCOUNT_SEQ_BEYOND = 2**63 - 1   # `before_seq` of the first page: past every posting


async def postings_page(reads: Reads, realm: str, account_id: int,
                        before_seq: int | None, limit: int) -> list[dict[str, Any]]:
    """An account's postings, newest first, starting below `before_seq` (one prepared
    statement through `reads`: history is the most read list)."""
    return await reads.rows(POSTINGS_PAGE, (realm, account_id,
                                            ACCOUNT_SEQ_BEYOND if before_seq is None else before_seq, limit))


async def balance_at(conn: AsyncConnection, realm: str, account_id: int,
                     at: datetime) -> int:
    """The running balance after the last posting made at or before `at` (0 if none)."""
    balance = (await conn.execute(
        select(postings.c.balance_after)
        .where(postings.c.realm == realm, postings.c.account_id == account_id,
               postings.c.created_at <= at)
        .order_by(postings.c.account_seq.desc()).limit(1))).scalar()
    return balance or 0
