"""SQL for checkpoints. Every function runs inside the caller's connection/transaction."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

CHECKPOINT_COLUMNS = ("realm, seq, tree_size, root_hash, previous_head_hash, head_hash, frontier, "
                      "sealed_below_txid, key_id, signature, created_at")


async def lock_realm(conn: AsyncConnection, realm: str) -> None:
    """One sealer per realm at a time (until the transaction ends)."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('pb_checkpoint:' || :realm, 0))"),
                       {"realm": realm})


async def sealing_horizon(conn: AsyncConnection) -> int:
    """A transaction id below which every transaction of this database has ended, so the
    entries they wrote are final (committed and visible, or rolled back).

    First the snapshot's xmax (every id at or above it is unassigned or was running),
    then the oldest id still running in this database: a transaction that was running at
    the snapshot and is still running shows there; one that gets its id later gets one
    above xmax. Other databases on the server do not hold sealing back.
    """
    xmax = (await conn.execute(text(
        "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"))).scalar_one()
    await conn.execute(text("SELECT pg_stat_clear_snapshot()"))
    running = list((await conn.execute(text(
        "SELECT backend_xid::text::bigint FROM pg_stat_activity "
        "WHERE datname = current_database() AND backend_xid IS NOT NULL "
        "AND pid <> pg_backend_pid()"))).scalars())
    return min([xmax, *(full_xid(xid, xmax) for xid in running)])


def full_xid(xid32: int, near: int) -> int:
    """A 32-bit transaction id as the 64-bit one (with epoch) closest to `near`."""
    candidate = (near & ~0xFFFFFFFF) | xid32
    if candidate > near + 0x80000000:
        candidate -= 1 << 32
    elif candidate < near - 0x80000000:
        candidate += 1 << 32
    return candidate


async def realm_exists(conn: AsyncConnection, realm: str) -> bool:
    return (await conn.execute(text("SELECT EXISTS (SELECT 1 FROM realms WHERE code = :realm)"),
                               {"realm": realm})).scalar_one()


async def realm_codes(conn: AsyncConnection) -> list[str]:
    return list((await conn.execute(text("SELECT code FROM realms ORDER BY code"))).scalars())


async def last_checkpoint(conn: AsyncConnection, realm: str) -> dict[str, Any] | None:
    row = (await conn.execute(text(
        f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE realm = :realm ORDER BY seq DESC LIMIT 1"),
        {"realm": realm})).first()
    return dict(row._mapping) if row else None


async def find_checkpoint(conn: AsyncConnection, realm: str, seq: int) -> dict[str, Any] | None:
    row = (await conn.execute(text(
        f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE realm = :realm AND seq = :seq"),
        {"realm": realm, "seq": seq})).first()
    return dict(row._mapping) if row else None


async def checkpoints_page(conn: AsyncConnection, realm: str, before_seq: int | None,
                           limit: int) -> list[dict[str, Any]]:
    rows = await conn.execute(text(
        f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE realm = :realm "
        "AND (CAST(:before AS bigint) IS NULL OR seq < :before) ORDER BY seq DESC LIMIT :limit"),
        {"realm": realm, "before": before_seq, "limit": limit})
    return [dict(row._mapping) for row in rows]


async def all_checkpoints(conn: AsyncConnection, realm: str) -> list[dict[str, Any]]:
    rows = await conn.execute(text(
        f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE realm = :realm ORDER BY seq"),
        {"realm": realm})
    return [dict(row._mapping) for row in rows]


def sealed_probe(realm: str, entry_id: str, condition: str = "") -> str:
    """SQL: LEFT JOIN a `done` row with `done.sealed` true when the entry (the columns
    named) has a leaf. A LATERAL with LIMIT is one key probe per entry, never a join:
    planned as an anti-join, statistics taken before a big seal once made it a nested
    loop over every sealed leaf per entry."""
    extra = f" AND {condition}" if condition else ""
    return (f"LEFT JOIN LATERAL (SELECT true AS sealed FROM checkpoint_entries c "
            f"WHERE c.realm = {realm} AND c.entry_id = {entry_id}{extra} LIMIT 1) done ON true")


async def seal_entries(conn: AsyncConnection, realm: str, seq: int, tree_size: int,
                       from_txid: int, below_txid: int, limit: int) -> list[tuple[int, bytes]]:
    """Give the entries committed by transactions in [from_txid, below_txid) and not yet
    sealed the next leaf positions under checkpoint `seq`; (leaf_index, leaf_hash) each."""
    rows = await conn.execute(text(f"""
        INSERT INTO checkpoint_entries (realm, entry_id, checkpoint_seq, leaf_index, leaf_hash)
        SELECT realm, entry_id, :seq, :tree_size + row_number() OVER (ORDER BY entry_id) - 1, leaf_hash
          FROM (SELECT l.realm, l.entry_id, l.leaf_hash
                  FROM audit_entry_leaves l {sealed_probe("l.realm", "l.entry_id")}
                 WHERE l.realm = :realm AND l.created_txid >= :from_txid
                   AND l.created_txid < :below_txid AND done.sealed IS NULL
                 ORDER BY l.entry_id LIMIT :limit) unsealed
        RETURNING leaf_index, leaf_hash"""),
        {"realm": realm, "seq": seq, "tree_size": tree_size, "from_txid": from_txid,
         "below_txid": below_txid, "limit": limit})
    return sorted((row.leaf_index, bytes(row.leaf_hash)) for row in rows)


async def insert_checkpoint(conn: AsyncConnection, values: dict[str, Any]) -> None:
    columns = ", ".join(values)
    await conn.execute(text(f"INSERT INTO checkpoints ({columns}) VALUES "
                            f"({', '.join(':' + name for name in values)})"), values)


async def sealed_entry(conn: AsyncConnection, entry_id: int) -> dict[str, Any] | None:
    row = (await conn.execute(text(
        "SELECT realm, entry_id, checkpoint_seq, leaf_index, leaf_hash FROM checkpoint_entries "
        "WHERE entry_id = :id"), {"id": entry_id})).first()
    return dict(row._mapping) if row else None


async def leaf_hashes(conn: AsyncConnection, realm: str, size: int) -> list[bytes]:
    """The realm's first `size` leaf hashes, in tree order."""
    rows = await conn.execute(text(
        "SELECT leaf_hash FROM checkpoint_entries WHERE realm = :realm AND leaf_index < :size "
        "ORDER BY leaf_index"), {"realm": realm, "size": size})
    return [bytes(row.leaf_hash) for row in rows]


LEAF_BATCH_ROWS = 20_000  # rows per fetch when streaming leaves


async def stream_leaves(conn: AsyncConnection, realm: str) -> AsyncIterator[list[Any]]:
    """Every sealed leaf of the realm in tree order, in batches: position, checkpoint,
    entry, stored hash, and whether the entry is gone or hashes differently now."""
    result = await conn.stream(text("""
        SELECT c.leaf_index, c.checkpoint_seq, c.entry_id, c.leaf_hash,
               l.entry_id IS NULL AS missing, l.leaf_hash IS DISTINCT FROM c.leaf_hash AS changed
          FROM checkpoint_entries c
          LEFT JOIN audit_entry_leaves l ON l.realm = c.realm AND l.entry_id = c.entry_id
         WHERE c.realm = :realm
         ORDER BY c.leaf_index""").execution_options(yield_per=LEAF_BATCH_ROWS), {"realm": realm})
    async for batch in result.partitions(LEAF_BATCH_ROWS):
        yield batch


async def unsealed_entries(conn: AsyncConnection, realm: str, below_txid: int,
                           limit: int) -> list[int]:
    """Entries that should have been sealed (their transaction ended before the last
    checkpoint) but are not: written behind the ledger's back."""
    rows = await conn.execute(text(f"""
        SELECT e.id FROM entries e
          {sealed_probe("e.realm", "e.id")}
         WHERE e.realm = :realm AND e.created_txid < :below AND done.sealed IS NULL
         ORDER BY e.id LIMIT :limit"""), {"realm": realm, "below": below_txid, "limit": limit})
    return list(rows.scalars())


async def newest_entry_id(conn: AsyncConnection, realm: str) -> int:
    return (await conn.execute(text("SELECT coalesce(max(id), 0) FROM entries WHERE realm = :realm"),
                               {"realm": realm})).scalar_one()


async def unsealed_count(conn: AsyncConnection, realm: str, up_to_id: int) -> int:
    """Committed entries with ids up to `up_to_id` that no checkpoint seals yet (only
    those above the last checkpoint's mark can be)."""
    return (await conn.execute(text(f"""
        SELECT count(*) FROM entries e
          {sealed_probe("e.realm", "e.id")}
         WHERE e.realm = :realm AND e.id <= :up_to
           AND e.created_txid >= coalesce((SELECT max(sealed_below_txid) FROM checkpoints
                                            WHERE realm = :realm), 0)
           AND done.sealed IS NULL"""),
        {"realm": realm, "up_to": up_to_id})).scalar_one()
