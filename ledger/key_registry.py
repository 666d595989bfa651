"""The key registry: the database's list of the public keys that sign checkpoints.

Why: a key directory is one process's view. Before the registry, any process pointed at
the database with another directory made a ledger key of its own, sealed with it, and the
audit (verifying against its own directory) failed for good. Now:

- A process seals only with the key the registry names as the realm's (else the
  deployment's) current ledger key (`signing_key_current` in SQL; a trigger on
  `checkpoints` refuses any other). A directory whose key is not that one is refused
  with `sealing_key_not_current`: it never writes a checkpoint the audit cannot verify.
- On first start (an empty registry) the local directory's ledger keys are registered,
  each with its small directory id as `legacy_kid`, so checkpoints sealed before the
  registry still verify.
- `pointsbank keys rotate --purpose ledger` retires the current key and registers the
  new one in one transaction; retired keys still verify what they signed.
- A stray key that already signed checkpoints is registered by an admin as
  `acknowledged`, with a reason (`pointsbank keys acknowledge`): its checkpoints then
  verify and the audit lists them as acknowledged. It never seals.

Registry key ids are derived from the public key (`ledger.keys.registry_key_id`). Voucher
keys are not registered: the voucher layout's key id is two bytes.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger import db, errors
from ledger.keys import KeyRing, PublicKey, key_fingerprint, registry_key_id, verifies
from ledger.require import require

LEDGER = "ledger"
SIGNER, ACKNOWLEDGED = "signer", "acknowledged"
REASON_LENGTH_MAX = 500


@dataclass(frozen=True)
class RegisteredKey:
    key_id: int
    purpose: str
    realm: str | None
    public_key: bytes
    legacy_kid: int | None
    kind: str
    reason: str | None
    registered_by: str
    valid_from: datetime
    retired_at: datetime | None

    def names(self, key_id: int) -> bool:
        """Whether a checkpoint's `key_id` means this key (its id, or its legacy id)."""
        return key_id in (self.key_id, self.legacy_kid)

    def verify(self, message: bytes, signature: bytes) -> bool:
        return verifies(self.public_key, message, signature)

    def as_json(self) -> dict[str, Any]:
        """Published form; `kid` and `public_key` read as `ledger.keys.public_key_from_json`."""
        return {"kid": self.key_id, "purpose": self.purpose, "alg": "Ed25519",
                "public_key": base64.urlsafe_b64encode(self.public_key).decode().rstrip("="),
                "fingerprint": key_fingerprint(self.public_key),
                "legacy_kid": self.legacy_kid, "realm": self.realm, "kind": self.kind,
                "reason": self.reason,
                "created_at": self.valid_from.isoformat(),
                "retired_at": self.retired_at.isoformat() if self.retired_at else None}


# SQL -------------------------------------------------------------------------------------

async def current_key_id(conn: AsyncConnection, realm: str | None) -> int | None:
    """The realm's current ledger key (None: the deployment's)."""
    return (await conn.execute(text("SELECT signing_key_current(:purpose, :realm)"),
                               {"purpose": LEDGER, "realm": realm})).scalar_one()


async def registered_keys(conn: AsyncConnection) -> list[RegisteredKey]:
    rows = await conn.execute(text("""
        SELECT k.key_id, k.purpose, k.realm, k.public_key, k.legacy_kid, k.kind, k.reason,
               k.registered_by, k.valid_from, r.retired_at
          FROM signing_keys k LEFT JOIN signing_key_retirements r ON r.key_id = k.key_id
         WHERE k.purpose = :purpose ORDER BY k.valid_from, k.key_id"""), {"purpose": LEDGER})
    return [RegisteredKey(**{**row._mapping, "public_key": bytes(row.public_key)}) for row in rows]


async def _lock_registry(conn: AsyncConnection) -> None:
    """One registration at a time (until commit); the same lock the SQL trigger takes
    for the deployment's scope."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"),
                       {"name": f"pb_signing_key:{LEDGER}:*"})


async def _insert_key(conn: AsyncConnection, public_key: bytes, kind: str, by: str,
                      valid_from: datetime, legacy_kid: int | None = None,
                      reason: str | None = None) -> int:
    key_id = registry_key_id(public_key)
    await conn.execute(text("""
        INSERT INTO signing_keys (key_id, purpose, public_key, legacy_kid, kind, reason,
                                  registered_by, valid_from)
        VALUES (:key_id, :purpose, :public_key, :legacy_kid, :kind, :reason, :by, :valid_from)"""),
        {"key_id": key_id, "purpose": LEDGER, "public_key": public_key, "legacy_kid": legacy_kid,
         "kind": kind, "reason": reason, "by": by, "valid_from": valid_from})
    return key_id


async def _retire(conn: AsyncConnection, key_id: int, at: datetime, by: str) -> None:
    await conn.execute(text(
        "INSERT INTO signing_key_retirements (key_id, retired_at, retired_by) VALUES (:id, :at, :by)"),
        {"id": key_id, "at": at, "by": by})


# service ---------------------------------------------------------------------------------

class KeyRegistry:
    """The registry seen from one process with its key directory `ring`."""

    def __init__(self, engine: AsyncEngine, ring: KeyRing) -> None:
        self.engine = engine
        self.ring = ring
        self._registered = False

    async def keys(self) -> list[RegisteredKey]:
        return await db.read(self.engine, registered_keys)

    async def register_local(self, by: str = "first start") -> bool:
        """On an empty registry, register this directory's ledger keys (the active one as
        the current signer, retired ones as retired, each with its legacy id); whether it
        registered them."""
        if self._registered:
            return False

        async def work(conn: AsyncConnection) -> bool:
            await _lock_registry(conn)
            if await registered_keys(conn):
                return False
            active = self.ring.active(LEDGER)
            for key in self.ring.public_keys(LEDGER):
                if key.kid != active.kid:  # retired: registered and retired at once
                    await _insert_key(conn, key.public_key, SIGNER, by, key.created_at, legacy_kid=key.kid)
                    await _retire(conn, key.registry_id, key.retired_at or key.created_at, by)
            await _insert_key(conn, active.public_key, SIGNER, by, active.created_at, legacy_kid=active.kid)
            return True

        registered = await db.in_transaction(self.engine, work)
        self._registered = True
        return registered

    async def signer(self, conn: AsyncConnection, realm: str) -> PublicKey:
        """The local key to seal `realm` with: the registry's current ledger key, which
        this directory must hold; refused otherwise."""
        current = await current_key_id(conn, realm)
        local = self.ring.active(LEDGER)
        if local.registry_id != current:
            self.ring.reload()  # `keys rotate` may have run since this process started
            local = self.ring.active(LEDGER)
        if current is None or local.registry_id != current:
            raise errors.SealingKeyNotCurrent(
                f"this process's ledger key {local.registry_id} (directory {self.ring.directory}) "
                f"is not the registered current ledger key {current} of realm {realm}: it does "
                "not seal (point POINTSBANK_KEY_DIR at the deployment's key directory)",
                realm=realm, key_id=local.registry_id, current_key_id=current)
        return local

    async def rotate(self, by: str) -> PublicKey:
        """Retire the current ledger key and register a new one from this directory. Only
        the directory that holds the current key may rotate it."""
        await self.register_local()

        async def work(conn: AsyncConnection) -> PublicKey:
            await _lock_registry(conn)
            current = await current_key_id(conn, None)
            active = self.ring.active(LEDGER)
            if current not in {key.registry_id for key in self.ring.public_keys(LEDGER)}:
                raise errors.SealingKeyNotCurrent(
                    f"this directory's ledger key {active.registry_id} is not the registered current "
                    f"key {current}: rotate from the deployment's key directory",
                    key_id=active.registry_id, current_key_id=current)
            # the directory rotated but the registry did not (an interrupted rotation): finish it
            new = self.ring.rotate(LEDGER) if active.registry_id == current else active
            now = datetime.now(timezone.utc)
            await _retire(conn, current, now, by)
            await _insert_key(conn, new.public_key, SIGNER, by, now, legacy_kid=new.kid)
            return new

        return await db.in_transaction(self.engine, work)

    async def acknowledge(self, public_key: bytes, reason: str, by: str,
                          legacy_kid: int | None = None) -> RegisteredKey:
        """Register a stray ledger key so the checkpoints it signed verify; it never seals."""
        if len(public_key) != 32:
            raise errors.InvalidPublicKey("an Ed25519 public key is 32 bytes")
        if not reason.strip() or len(reason) > REASON_LENGTH_MAX:
            raise errors.InvalidInput(f"give a reason of 1 to {REASON_LENGTH_MAX} characters")
        require(legacy_kid is None or 1 <= legacy_kid <= 0xFFFF, "a legacy key id fits two bytes")

        async def work(conn: AsyncConnection) -> RegisteredKey:
            await _lock_registry(conn)
            key_id = registry_key_id(public_key)
            if any(key.key_id == key_id for key in await registered_keys(conn)):
                raise errors.SigningKeyRegistered(f"key {key_id} is registered already", key_id=key_id)
            await _insert_key(conn, public_key, ACKNOWLEDGED, by, datetime.now(timezone.utc),
                              legacy_kid=legacy_kid, reason=reason.strip())
            return next(key for key in await registered_keys(conn) if key.key_id == key_id)

        return await db.in_transaction(self.engine, work)
