"""SQL for the merchant registry; every function runs in the caller's transaction."""
from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, MetaData, Table, Text, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

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


async def find_merchant(conn: AsyncConnection, merchant_id: int,
                        for_update: bool = False) -> dict[str, Any] | None:
    query = select(merchants).where(merchants.c.id == merchant_id)
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return dict(row._mapping) if row else None


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
