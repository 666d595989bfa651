"""SQL for vouchers and redemptions; every function runs in the caller's transaction."""
from __future__ import annotations

from typing import Any

from sqlalchemy import (BigInteger, Boolean, Column, DateTime, Integer, LargeBinary, MetaData, Table,
                        Text, and_, func, insert, select, update)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.reads import Reads
from ledger.require import require
from ledger.schema import accounts

metadata = MetaData()

vouchers = Table(
    "vouchers", metadata,
    Column("realm", Text, primary_key=True),
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("serial", LargeBinary),
    Column("short_code", Text),
    Column("code", Text),
    Column("key_id", Integer),
    Column("resident_id", BigInteger),
    Column("resident_account_id", BigInteger),
    Column("hold_account_id", BigInteger),
    Column("asset", Text),
    Column("amount", BigInteger),
    Column("scope_merchant_id", BigInteger),
    Column("scope_merchant_kind", Text),
    Column("expires_at", DateTime(timezone=True)),
    Column("status", Text),
    Column("captured_amount", BigInteger),
    Column("hold_entry_id", BigInteger),
    Column("idempotency_key", Text),
    Column("request_hash", LargeBinary),
    Column("created_by", Text),
    Column("created_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
)

redemptions = Table(
    "redemptions", metadata,
    Column("realm", Text, primary_key=True),
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("voucher_id", BigInteger),
    Column("merchant_id", BigInteger),
    Column("merchant_realm", Text),
    Column("amount", BigInteger),
    Column("entry_id", BigInteger),
    Column("clear_entry_id", BigInteger),
    Column("offline", Boolean),
    Column("idempotency_key", Text),
    Column("request_hash", LargeBinary),
    Column("created_by", Text),
    Column("created_at", DateTime(timezone=True)),
)

voucher_policies = Table(
    "voucher_policies", metadata,
    Column("realm", Text, primary_key=True),
    Column("lifetime_days", Integer),
    Column("outstanding_max", Integer),
)

hold_reconciliation = Table(
    "hold_reconciliation", metadata,
    Column("realm", Text), Column("asset", Text), Column("hold_account_id", BigInteger),
    Column("hold_balance", BigInteger), Column("outstanding", BigInteger),
    Column("difference", BigInteger),
)


def _one(row: Any) -> dict[str, Any] | None:
    return dict(row._mapping) if row is not None else None


# policies ----------------------------------------------------------------------------------

async def find_policy(conn: AsyncConnection, realm: str) -> dict[str, Any] | None:
    return _one((await conn.execute(select(voucher_policies).where(voucher_policies.c.realm == realm))).first())


async def save_policy(conn: AsyncConnection, realm: str, lifetime_days: int, outstanding_max: int) -> None:
    statement = pg_insert(voucher_policies).values(realm=realm, lifetime_days=lifetime_days,
                                                   outstanding_max=outstanding_max)
    await conn.execute(statement.on_conflict_do_update(
        index_elements=[voucher_policies.c.realm],
        set_={"lifetime_days": lifetime_days, "outstanding_max": outstanding_max}))


# vouchers ----------------------------------------------------------------------------------

async def insert_voucher(conn: AsyncConnection, **values: Any) -> dict[str, Any]:
    row = (await conn.execute(insert(vouchers).values(**values).returning(*vouchers.c))).one()
    return dict(row._mapping)


async def find_voucher(conn: AsyncConnection, voucher_id: int) -> dict[str, Any] | None:
    return _one((await conn.execute(select(vouchers).where(vouchers.c.id == voucher_id))).first())


async def find_by_serial(conn: AsyncConnection, realm: str, serial: bytes) -> dict[str, Any] | None:
    return _one((await conn.execute(select(vouchers).where(
        vouchers.c.realm == realm, vouchers.c.serial == serial))).first())


async def vouchers_with_redeemer(conn: AsyncConnection, realm: str,
                                 serials: list[bytes]) -> list[dict[str, Any]]:
    """The vouchers with these serials, each with the merchant that redeemed it (or None)."""
    query = (select(vouchers, redemptions.c.merchant_id.label("redeemed_by"))
             .outerjoin(redemptions, and_(redemptions.c.realm == vouchers.c.realm,
                                          redemptions.c.voucher_id == vouchers.c.id))
             .where(vouchers.c.realm == realm, vouchers.c.serial.in_(serials)))
    return [dict(row._mapping) for row in await conn.execute(query)]


async def find_by_short_code(conn: AsyncConnection, short_code: str) -> list[dict[str, Any]]:
    rows = await conn.execute(select(vouchers).where(vouchers.c.short_code == short_code).limit(2))
    return [dict(row._mapping) for row in rows]


async def find_by_key(conn: AsyncConnection, realm: str, key: str) -> dict[str, Any] | None:
    return _one((await conn.execute(select(vouchers).where(
        vouchers.c.realm == realm, vouchers.c.idempotency_key == key))).first())


_ISSUE_FACTS = """
SELECT r.timezone, p.lifetime_days, p.outstanding_max, w.id AS wallet_id, w.balance AS wallet_balance,
       h.id AS hold_account_id, v.id AS replay_id
  FROM (SELECT CAST(%(realm)s AS text) AS realm) q
  LEFT JOIN realms r ON r.code = q.realm
  LEFT JOIN voucher_policies p ON p.realm = q.realm
  LEFT JOIN LATERAL (SELECT a.id, a.balance FROM accounts a
                      WHERE a.realm = q.realm AND a.kind = 'resident' AND a.asset = %(asset)s
                        AND a.resident_id = %(resident_id)s LIMIT 1) w ON true
  LEFT JOIN LATERAL (SELECT a.id FROM accounts a
                      WHERE a.realm = q.realm AND a.kind = 'hold' AND a.asset = %(asset)s LIMIT 1) h ON true
  LEFT JOIN LATERAL (SELECT v.id FROM vouchers v
                      WHERE v.realm = q.realm AND v.idempotency_key = %(key)s LIMIT 1) v ON true
"""


async def issue_facts(reads: Reads, realm: str, resident_id: int, asset: str, key: str) -> dict[str, Any]:
    """What an issue reads before it writes, in one round trip (through `reads`: every
    issue asks): the realm's `timezone` (None: no such realm), its policy (`lifetime_days`,
    `outstanding_max`; None: the defaults), the resident's `wallet_id` and
    `wallet_balance` (None: no wallet), the realm's `hold_account_id` of the asset, and
    `replay_id`, the voucher an earlier issue made under `key` (None: the key is new)."""
    found = await reads.row(_ISSUE_FACTS, {"realm": realm, "resident_id": resident_id, "asset": asset, "key": key})
    require(found is not None, "the facts query answers one row")
    return found


async def close_voucher(conn: AsyncConnection, realm: str, serial: bytes, status: str,
                        captured_amount: int | None = None) -> dict[str, Any] | None:
    """Move an issued voucher to `status`, at most once (invariant 8): the guard on
    `status = 'issued'` lets one of any number of concurrent callers through; the others
    wait for its row lock and then find nothing to update. A capture needs the voucher
    unexpired, an expiry needs it expired."""
    query = (update(vouchers)
             .where(vouchers.c.realm == realm, vouchers.c.serial == serial,
                    vouchers.c.status == "issued")
             .values(status=status, captured_amount=captured_amount, closed_at=func.now())
             .returning(*vouchers.c))
    if status in ("redeemed", "partially_redeemed"):
        query = query.where(vouchers.c.expires_at > func.now())
    elif status == "expired":
        query = query.where(vouchers.c.expires_at <= func.now())
    return _one((await conn.execute(query)).first())


async def vouchers_page(conn: AsyncConnection, realm: str, resident_id: int | None, status: str | None,
                        before_id: int | None, limit: int) -> list[dict[str, Any]]:
    query = select(vouchers).where(vouchers.c.realm == realm).order_by(vouchers.c.id.desc()).limit(limit)
    if resident_id is not None:
        query = query.where(vouchers.c.resident_id == resident_id)
    if status is not None:
        query = query.where(vouchers.c.status == status)
    if before_id is not None:
        query = query.where(vouchers.c.id < before_id)
    return [dict(row._mapping) for row in await conn.execute(query)]


async def due_vouchers(conn: AsyncConnection, limit: int) -> list[tuple[str, bytes]]:
    """Issued vouchers past their expiry, oldest first: (realm, serial)."""
    rows = await conn.execute(select(vouchers.c.realm, vouchers.c.serial).where(
        vouchers.c.status == "issued", vouchers.c.expires_at <= func.now())
        .order_by(vouchers.c.expires_at).limit(limit))
    return [(row.realm, row.serial) for row in rows]


async def count_due(conn: AsyncConnection) -> int:
    return (await conn.execute(select(func.count()).select_from(vouchers).where(
        vouchers.c.status == "issued", vouchers.c.expires_at <= func.now()))).scalar_one()


# redemptions -------------------------------------------------------------------------------

async def find_redemption(conn: AsyncConnection, realm: str, merchant_id: int,
                          key: str) -> dict[str, Any] | None:
    return _one((await conn.execute(select(redemptions).where(
        redemptions.c.realm == realm, redemptions.c.merchant_id == merchant_id,
        redemptions.c.idempotency_key == key))).first())


async def insert_redemption(conn: AsyncConnection, **values: Any) -> dict[str, Any]:
    row = (await conn.execute(insert(redemptions).values(**values).returning(*redemptions.c))).one()
    return dict(row._mapping)


# accounts ----------------------------------------------------------------------------------

async def find_clearing(conn: AsyncConnection, realm: str, counterpart: str, asset: str) -> int | None:
    return (await conn.execute(select(accounts.c.id).where(
        accounts.c.realm == realm, accounts.c.kind == "clearing",
        accounts.c.counterpart_realm == counterpart, accounts.c.asset == asset))).scalar()


async def hold_differences(conn: AsyncConnection, realm: str | None = None) -> list[dict[str, Any]]:
    """Rows of `hold_reconciliation` whose difference is not zero (invariant 7)."""
    query = select(hold_reconciliation).where(hold_reconciliation.c.difference != 0)
    if realm is not None:
        query = query.where(hold_reconciliation.c.realm == realm)
    return [dict(row._mapping) for row in await conn.execute(query)]
