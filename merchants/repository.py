"""SQL for merchants (registry, catalogue, settlement, views); every function runs in the
caller's transaction."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (BigInteger, Boolean, Column, Date, DateTime, Integer, LargeBinary, MetaData, Table,
                        Text, func, insert, or_, select, text, update)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.schema import accounts
from ledger.reads import Reads

merchants = Table(
    "merchants", MetaData(),
    Column("realm", Text, primary_key=True),
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("station_id", BigInteger),
    Column("kind", Text),
    Column("name", Text),
    Column("contact", Text),
    Column("status", Text),
    Column("created_at", DateTime(timezone=True)),
    Column("status_changed_at", DateTime(timezone=True)),
)


async def insert_merchant(conn: AsyncConnection, **values: Any) -> dict[str, Any]:
    row = (await conn.execute(insert(merchants).values(**values).returning(*merchants.c))).one()
    return dict(row._mapping)


MERCHANT_BY_ID = (f"SELECT {', '.join(column.name for column in merchants.c)} FROM merchants "
                  "WHERE id = %s LIMIT 1")


async def merchant_by_id(reads: Reads, merchant_id: int) -> dict[str, Any] | None:
    """A merchant by id through `reads` (every merchant request reads its merchant)."""
    return await reads.row(MERCHANT_BY_ID, (merchant_id,))


async def find_merchant(conn: AsyncConnection, merchant_id: int,
                        for_update: bool = False) -> dict[str, Any] | None:
    query = select(merchants).where(merchants.c.id == merchant_id)
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return dict(row._mapping) if row else None


async def merchant_names(conn: AsyncConnection, merchant_ids: list[int]) -> dict[int, str]:
    rows = await conn.execute(select(merchants.c.id, merchants.c.name).where(merchants.c.id.in_(merchant_ids)))
    return {row.id: row.name for row in rows}


async def find_by_name(conn: AsyncConnection, realm: str, name: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(merchants).where(
        merchants.c.realm == realm, merchants.c.name == name).order_by(merchants.c.id).limit(1))).first()
    return dict(row._mapping) if row else None


async def set_status(conn: AsyncConnection, realm: str, merchant_id: int, status: str) -> dict[str, Any]:
    row = (await conn.execute(update(merchants).where(
        merchants.c.realm == realm, merchants.c.id == merchant_id).values(
        status=status, status_changed_at=func.now()).returning(*merchants.c))).one()
    return dict(row._mapping)


async def merchants_page(conn: AsyncConnection, realm: str, after_id: int | None, limit: int,
                         kind: str | None, status: str | None) -> list[dict[str, Any]]:
    query = select(merchants).where(merchants.c.realm == realm).order_by(merchants.c.id).limit(limit)
    if after_id is not None:
        query = query.where(merchants.c.id > after_id)
    if kind is not None:
        query = query.where(merchants.c.kind == kind)
    if status is not None:
        query = query.where(merchants.c.status == status)
    return [dict(row._mapping) for row in await conn.execute(query)]


# rewards catalogue ------------------------------------------------------------------------

catalogue_items = Table(
    "catalogue_items", MetaData(),
    Column("realm", Text, primary_key=True),
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("merchant_id", BigInteger),
    Column("name", Text),
    Column("description", Text),
    Column("price", BigInteger),
    Column("asset", Text),
    Column("stock", BigInteger),
    Column("active", Boolean),
    Column("active_from", DateTime(timezone=True)),
    Column("active_until", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True)),
)

catalogue_reservations = Table(
    "catalogue_reservations", MetaData(),
    Column("realm", Text, primary_key=True),
    Column("voucher_id", BigInteger, primary_key=True),
    Column("item_id", BigInteger),
    Column("merchant_id", BigInteger),
    Column("points", BigInteger),
    Column("created_at", DateTime(timezone=True)),
    Column("returned_at", DateTime(timezone=True)),
)


def _one(row: Any) -> dict[str, Any] | None:
    return dict(row._mapping) if row is not None else None


async def insert_item(conn: AsyncConnection, **values: Any) -> dict[str, Any]:
    row = (await conn.execute(insert(catalogue_items).values(**values).returning(*catalogue_items.c))).one()
    return dict(row._mapping)


async def find_item(conn: AsyncConnection, item_id: int) -> dict[str, Any] | None:
    return _one((await conn.execute(select(catalogue_items).where(catalogue_items.c.id == item_id))).first())


async def change_item(conn: AsyncConnection, realm: str, item_id: int, restock: int | None,
                      active: bool | None) -> dict[str, Any] | None:
    values: dict[str, Any] = {}
    if restock is not None:
        values["stock"] = catalogue_items.c.stock + restock
    if active is not None:
        values["active"] = active
    return _one((await conn.execute(update(catalogue_items).where(
        catalogue_items.c.realm == realm, catalogue_items.c.id == item_id).values(**values)
        .returning(*catalogue_items.c))).first())


async def take_one(conn: AsyncConnection, realm: str, item_id: int) -> dict[str, Any] | None:
    """Take one of the item's stock (unlimited: nothing to take), only while it is offered
    and some is left: the guard lets exactly `stock` of any number of concurrent callers
    through (each waits for the row lock, then re-checks)."""
    now = func.now()
    return _one((await conn.execute(update(catalogue_items).where(
        catalogue_items.c.realm == realm, catalogue_items.c.id == item_id,
        catalogue_items.c.active.is_(True),
        or_(catalogue_items.c.stock.is_(None), catalogue_items.c.stock > 0),
        or_(catalogue_items.c.active_from.is_(None), catalogue_items.c.active_from <= now),
        or_(catalogue_items.c.active_until.is_(None), catalogue_items.c.active_until > now),
    ).values(stock=catalogue_items.c.stock - 1).returning(*catalogue_items.c))).first())


async def insert_reservation(conn: AsyncConnection, **values: Any) -> dict[str, Any]:
    row = (await conn.execute(insert(catalogue_reservations).values(**values)
                              .returning(*catalogue_reservations.c))).one()
    return dict(row._mapping)


async def find_reservation(conn: AsyncConnection, realm: str, voucher_id: int) -> dict[str, Any] | None:
    return _one((await conn.execute(select(catalogue_reservations).where(
        catalogue_reservations.c.realm == realm,
        catalogue_reservations.c.voucher_id == voucher_id))).first())


async def items_page(conn: AsyncConnection, realm: str, merchant_id: int | None, after_id: int | None,
                     limit: int) -> list[dict[str, Any]]:
    query = (select(catalogue_items).where(catalogue_items.c.realm == realm)
             .order_by(catalogue_items.c.id).limit(limit))
    if merchant_id is not None:
        query = query.where(catalogue_items.c.merchant_id == merchant_id)
    if after_id is not None:
        query = query.where(catalogue_items.c.id > after_id)
    return [dict(row._mapping) for row in await conn.execute(query)]


_REWARDS = text("""
SELECT * FROM (
    SELECT i.*, m.name AS merchant_name, m.kind AS merchant_kind, m.station_id,
           CASE WHEN CAST(:station AS bigint) IS NOT NULL
                     AND m.station_id = CAST(:station AS bigint) THEN 0 ELSE 1 END AS rank
      FROM catalogue_items i
      JOIN merchants m ON m.realm = i.realm AND m.id = i.merchant_id
     WHERE i.realm = :realm AND m.status = 'active' AND i.active
       AND (i.stock IS NULL OR i.stock > 0)
       AND (i.active_from IS NULL OR i.active_from <= now())
       AND (i.active_until IS NULL OR i.active_until > now())
       AND (CAST(:kind AS text) IS NULL OR m.kind = CAST(:kind AS text))) offered
 WHERE (CAST(:after_rank AS integer) IS NULL
        OR (rank, id) > (CAST(:after_rank AS integer), CAST(:after_id AS bigint)))
 ORDER BY rank, id
 LIMIT :limit
""")


async def rewards_page(conn: AsyncConnection, realm: str, kind: str | None, station: int | None,
                       after: tuple[int, int] | None, limit: int) -> list[dict[str, Any]]:
    rows = await conn.execute(_REWARDS, {
        "realm": realm, "kind": kind, "station": station, "limit": limit,
        "after_rank": after[0] if after else None, "after_id": after[1] if after else None})
    return [dict(row._mapping) for row in rows]


# settlement -------------------------------------------------------------------------------

settlement_rates = Table(
    "settlement_rates", MetaData(),
    Column("realm", Text, primary_key=True),
    Column("fen_per_point", Integer),
    Column("updated_at", DateTime(timezone=True)),
)

settlements = Table(
    "settlements", MetaData(),
    Column("realm", Text, primary_key=True),
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("merchant_id", BigInteger),
    Column("period_start", DateTime(timezone=True)),
    Column("period_end", DateTime(timezone=True)),
    Column("points", BigInteger),
    Column("fen_per_point", Integer),
    Column("amount_fen", BigInteger),
    Column("entry_id", BigInteger),
    Column("statement", JSONB),
    Column("statement_sha256", LargeBinary),
    Column("signature", LargeBinary),
    Column("key_id", Integer),
    Column("status", Text),
    Column("bank_reference", Text),
    Column("paid_on", Date),
    Column("paid_at", DateTime(timezone=True)),
    Column("created_by", Text),
    Column("created_at", DateTime(timezone=True)),
)

settlement_requests = Table(
    "settlement_requests", MetaData(),
    Column("realm", Text, primary_key=True),
    Column("merchant_id", BigInteger, primary_key=True),
    Column("idempotency_key", Text, primary_key=True),
    Column("request_hash", LargeBinary),
    Column("settlement_id", BigInteger),
    Column("created_at", DateTime(timezone=True)),
)

settlement_accounts = Table(
    "settlement_accounts", MetaData(),
    Column("realm", Text, primary_key=True),
    Column("settlement_id", BigInteger, primary_key=True),
    Column("account_id", BigInteger, primary_key=True),
    Column("asset", Text),
    Column("seq_after", BigInteger),
    Column("seq_through", BigInteger),
    Column("points", BigInteger),
)


async def find_rate(conn: AsyncConnection, realm: str) -> int | None:
    return (await conn.execute(select(settlement_rates.c.fen_per_point).where(
        settlement_rates.c.realm == realm))).scalar()


async def save_rate(conn: AsyncConnection, realm: str, fen_per_point: int) -> None:
    statement = pg_insert(settlement_rates).values(realm=realm, fen_per_point=fen_per_point)
    await conn.execute(statement.on_conflict_do_update(
        index_elements=[settlement_rates.c.realm],
        set_={"fen_per_point": fen_per_point, "updated_at": func.now()}))


async def merchant_accounts(conn: AsyncConnection, realm: str, merchant_id: int,
                            for_update: bool = False) -> list[dict[str, Any]]:
    """The merchant's accounts in id order; locked, they wait for captures in flight."""
    query = (select(accounts.c.id, accounts.c.asset, accounts.c.balance, accounts.c.posting_count)
             .where(accounts.c.realm == realm, accounts.c.kind == "merchant",
                    accounts.c.merchant_id == merchant_id).order_by(accounts.c.id))
    if for_update:
        query = query.with_for_update()
    return [dict(row._mapping) for row in await conn.execute(query)]


async def last_settlement(conn: AsyncConnection, realm: str, merchant_id: int) -> dict[str, Any] | None:
    return _one((await conn.execute(select(settlements).where(
        settlements.c.realm == realm, settlements.c.merchant_id == merchant_id)
        .order_by(settlements.c.period_end.desc()).limit(1))).first())


async def find_settlement(conn: AsyncConnection, settlement_id: int) -> dict[str, Any] | None:
    return _one((await conn.execute(select(settlements).where(settlements.c.id == settlement_id))).first())


async def find_settlement_ending(conn: AsyncConnection, realm: str, merchant_id: int,
                                 period_end: datetime) -> dict[str, Any] | None:
    return _one((await conn.execute(select(settlements).where(
        settlements.c.realm == realm, settlements.c.merchant_id == merchant_id,
        settlements.c.period_end == period_end))).first())


async def find_request(conn: AsyncConnection, realm: str, merchant_id: int, key: str) -> dict[str, Any] | None:
    return _one((await conn.execute(select(settlement_requests).where(
        settlement_requests.c.realm == realm, settlement_requests.c.merchant_id == merchant_id,
        settlement_requests.c.idempotency_key == key))).first())


async def insert_request(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(insert(settlement_requests).values(**values))


async def settled_through(conn: AsyncConnection, realm: str, account_id: int) -> int:
    """The last posting of the account already settled (0: none)."""
    return (await conn.execute(select(func.coalesce(func.max(settlement_accounts.c.seq_through), 0)).where(
        settlement_accounts.c.realm == realm, settlement_accounts.c.account_id == account_id))).scalar_one()


_RANGE = text("""
SELECT p.account_seq, p.entry_id, p.asset, p.amount, p.created_at, e.kind, e.reference
  FROM postings p
 CROSS JOIN LATERAL (SELECT e.kind, e.reference FROM entries e   -- a key probe per posting,
                      WHERE e.realm = p.realm AND e.id = p.entry_id LIMIT 1) e  -- never a hash of entries
 WHERE p.realm = :realm AND p.account_id = :account_id AND p.account_seq > :after
   AND p.created_at < :cutoff
 ORDER BY p.account_seq
""")


async def postings_before(conn: AsyncConnection, realm: str, account_id: int, after_seq: int,
                          cutoff: datetime) -> list[dict[str, Any]]:
    """The account's postings after `after_seq` with entry time before `cutoff` (a prefix of
    its history: postings of one account are in time order, and the caller holds the
    account's lock, so none before the cut-off is still uncommitted)."""
    rows = await conn.execute(_RANGE, {"realm": realm, "account_id": account_id, "after": after_seq,
                                       "cutoff": cutoff})
    return [dict(row._mapping) for row in rows]


async def insert_settlement(conn: AsyncConnection, **values: Any) -> dict[str, Any]:
    row = (await conn.execute(insert(settlements).values(**values).returning(*settlements.c))).one()
    return dict(row._mapping)


async def insert_settlement_account(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(insert(settlement_accounts).values(**values))


async def mark_paid(conn: AsyncConnection, realm: str, settlement_id: int, bank_reference: str,
                    paid_on: date) -> dict[str, Any] | None:
    """`open` -> `paid`, once: the guard lets one of concurrent callers through."""
    return _one((await conn.execute(update(settlements).where(
        settlements.c.realm == realm, settlements.c.id == settlement_id, settlements.c.status == "open")
        .values(status="paid", bank_reference=bank_reference, paid_on=paid_on, paid_at=func.now())
        .returning(*settlements.c))).first())


async def settlements_page(conn: AsyncConnection, realm: str, merchant_id: int | None,
                           before_id: int | None, limit: int) -> list[dict[str, Any]]:
    query = (select(*[c for c in settlements.c if c.name != "statement"])
             .where(settlements.c.realm == realm).order_by(settlements.c.id.desc()).limit(limit))
    if merchant_id is not None:
        query = query.where(settlements.c.merchant_id == merchant_id)
    if before_id is not None:
        query = query.where(settlements.c.id < before_id)
    return [dict(row._mapping) for row in await conn.execute(query)]


async def realm_merchant_ids(conn: AsyncConnection, realm: str) -> list[int]:
    return list((await conn.execute(select(merchants.c.id).where(merchants.c.realm == realm)
                                    .order_by(merchants.c.id))).scalars())


# merchant view and reports ----------------------------------------------------------------

_RECEIVED = text("""
SELECT count(*) AS redemptions, CAST(coalesce(sum(p.amount), 0) AS bigint) AS points
  FROM postings p JOIN entries e ON e.realm = p.realm AND e.id = p.entry_id
 WHERE p.realm = :realm AND p.account_id = ANY(CAST(:account_ids AS bigint[]))
   AND e.kind IN ('capture', 'clear') AND p.created_at >= :since AND p.created_at < :until
""")


async def received_between(conn: AsyncConnection, realm: str, account_ids: list[int], since: datetime,
                           until: datetime) -> dict[str, int]:
    row = (await conn.execute(_RECEIVED, {"realm": realm, "account_ids": account_ids,
                                          "since": since, "until": until})).one()
    return {"redemptions": row.redemptions, "points": row.points}


_REDEMPTION_LINES = text("""
SELECT p.account_id, p.account_seq, p.entry_id, p.asset, p.amount, p.created_at, e.kind, e.reference
  FROM postings p JOIN entries e ON e.realm = p.realm AND e.id = p.entry_id
 WHERE p.realm = :realm AND p.account_id = ANY(CAST(:account_ids AS bigint[]))
   AND e.kind IN ('capture', 'clear') AND p.created_at >= :since
   AND (CAST(:before_entry AS bigint) IS NULL OR p.entry_id < CAST(:before_entry AS bigint))
 ORDER BY p.entry_id DESC
 LIMIT :limit
""")


async def redemption_lines(conn: AsyncConnection, realm: str, account_ids: list[int], since: datetime,
                           before_entry: int | None, limit: int) -> list[dict[str, Any]]:
    rows = await conn.execute(_REDEMPTION_LINES, {"realm": realm, "account_ids": account_ids, "since": since,
                                                  "before_entry": before_entry, "limit": limit})
    return [dict(row._mapping) for row in rows]


_AGRI_SPENDING = text("""
SELECT to_char(date_trunc('month', p.created_at AT TIME ZONE r.timezone), 'YYYY-MM') AS month,
       p.asset, CAST(sum(p.amount) AS bigint) AS points, count(*) AS redemptions
  FROM postings p
  JOIN entries e ON e.realm = p.realm AND e.id = p.entry_id AND e.kind IN ('capture', 'clear')
  JOIN accounts a ON a.realm = p.realm AND a.id = p.account_id AND a.kind = 'merchant'
  JOIN merchants m ON m.realm = a.realm AND m.id = a.merchant_id AND m.kind = 'agri_shop'
  JOIN realms r ON r.code = p.realm
 WHERE p.realm = :realm
 GROUP BY 1, 2
HAVING CAST(:after_month AS text) IS NULL
    OR to_char(date_trunc('month', p.created_at AT TIME ZONE r.timezone), 'YYYY-MM') > CAST(:after_month AS text)
    OR (to_char(date_trunc('month', p.created_at AT TIME ZONE r.timezone), 'YYYY-MM') = CAST(:after_month AS text)
        AND p.asset > CAST(:after_asset AS text))
 ORDER BY 1, 2
 LIMIT :limit
""")


async def agri_spending(conn: AsyncConnection, realm: str, after: tuple[str, str | None] | None,
                        limit: int) -> list[dict[str, Any]]:
    """Per (month, asset), after the (month, asset) `after` (a month alone: after all of it)."""
    month, asset = after or (None, None)
    rows = await conn.execute(_AGRI_SPENDING, {"realm": realm, "after_month": month, "after_asset": asset,
                                               "limit": limit})
    return [dict(row._mapping) for row in rows]


async def reconciliation_differences(conn: AsyncConnection, realm: str | None = None) -> list[dict[str, Any]]:
    """Rows of `merchant_reconciliation` (merchant accounts whose balance is not what they
    received less what was settled)."""
    query = "SELECT * FROM merchant_reconciliation" + (" WHERE realm = :realm" if realm else "")
    return [dict(row._mapping) for row in await conn.execute(text(query), {"realm": realm})]
