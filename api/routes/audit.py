"""Audit: reconciliation, checkpoints and proofs. Auditors and admins read; only an admin
seals on demand (`serve` also seals every `Settings.seal_interval_s`)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery
from sqlalchemy.ext.asyncio import AsyncEngine

from api.auth import roles
from api.errors import problems
from api.routes.common import PAGING, Caller, ItemsPage, Service, decoded
from api.routes.redemption import PublishedKey
from ledger import audit, errors, model
from ledger.checkpoints import Checkpoints, head_signature_ok, registry_verifier
from ledger.service import Ledger

READER_ROLES = ("auditor", "admin")


class CheckOutcome(msgspec.Struct):
    name: str
    description: str
    ok: bool
    offending: list[dict[str, Any]]   # what broke the check (at most a page of it)
    truncated: bool                   # more offended than `offending` lists
    notes: list[dict[str, Any]]
    seconds: float


class Reconciliation(msgspec.Struct):
    realm: str | None                 # None: every realm
    ok: bool
    failed: list[str]                 # the names of the checks that failed
    checks: list[CheckOutcome]


class CheckpointHead(msgspec.Struct, kw_only=True):
    """A signed checkpoint head: Ed25519 over its realm, seq, tree size, root, previous
    head, `created_at_us` and key id (`ledger.checkpoints.head_message`)."""
    realm: str
    seq: int
    tree_size: int
    root_hash: str                    # hex
    previous_head_hash: str | None    # hex; None for the first
    head_hash: str                    # hex
    created_at: datetime
    created_at_us: int                # microseconds since the epoch (what is signed)
    key_id: int
    signature: str                    # hex
    signature_valid: bool | msgspec.UnsetType = msgspec.UNSET   # on .../latest: checked against the key registry


class Sealed(msgspec.Struct):
    sealed: list[CheckpointHead]      # the new heads (none when nothing new was committed)


class ConsistencyProof(msgspec.Struct):
    realm: str
    first: CheckpointHead
    second: CheckpointHead
    proof: list[str]                  # hex hashes (RFC 9162)


class InclusionProof(msgspec.Struct):
    realm: str
    entry_id: int
    leaf_index: int
    leaf_hash: str
    checkpoint: CheckpointHead
    proof: list[str]


class LedgerKeys(msgspec.Struct):
    keys: list[PublishedKey]


def audited_realm(principal: Caller, realm: str | None) -> str | None:
    """The realm a caller audits: its own (a realm token), or any or all (a global admin)."""
    principal.require_role(*READER_ROLES)
    if realm is not None:
        model.check_realm_code(realm)
        principal.require_realm(realm)
        return realm
    return principal.realm


def one_realm(principal: Caller, realm: str | None) -> str:
    chosen = audited_realm(principal, realm)
    if chosen is None:
        raise errors.InvalidInput("name a realm: ?realm=430104")
    return chosen


def head_of(head: dict[str, Any], **extra: Any) -> CheckpointHead:
    return decoded(CheckpointHead, {**head, **extra})


ONE_REALM = (errors.InvalidRealm, errors.InvalidInput)


class AuditController(Controller):
    path = "/v1/audit"
    tags = ["audit"]
    guards = [roles(*READER_ROLES)]

    @get("/reconciliation", responses=problems(errors.InvalidRealm))
    async def reconciliation(self, engine: Service[AsyncEngine], principal: Caller,
                             realm: FromQuery[str | None] = None) -> Reconciliation:
        """Every audit check over the realm's book (or every realm's, for a global admin)."""
        report = await audit.run_audit(engine, audited_realm(principal, realm))
        return decoded(Reconciliation, report.as_json())

    @post("/checkpoints", status_code=201, guards=[roles("admin")],
          responses=problems(errors.SealingKeyNotCurrent, errors.RealmNotFound))
    async def seal_checkpoints(self, checkpoints: Service[Checkpoints], principal: Caller,
                               realm: FromQuery[str | None] = None) -> Sealed:
        """Seal what was committed since the last checkpoint: the realm's, or every realm's."""
        if realm is None and principal.realm is None:
            return Sealed([head_of(head) for head in await checkpoints.seal_all()])
        chosen = realm or principal.realm
        principal.require_realm(chosen)
        head = await checkpoints.seal(chosen)
        return Sealed([head_of(head)] if head else [])

    @get("/checkpoints", responses=problems(ONE_REALM, PAGING))
    async def list_checkpoints(self, checkpoints: Service[Checkpoints], principal: Caller,
                               realm: FromQuery[str | None] = None, cursor: FromQuery[str | None] = None,
                               limit: FromQuery[int | None] = None) -> ItemsPage[CheckpointHead]:
        """The realm's checkpoint heads, newest first."""
        heads, next_cursor = await checkpoints.heads(one_realm(principal, realm), cursor, limit)
        return ItemsPage([head_of(head) for head in heads], next_cursor)

    @get("/checkpoints/{realm:str}/latest", responses=problems(ONE_REALM, errors.CheckpointNotFound))
    async def latest_checkpoint(self, checkpoints: Service[Checkpoints], principal: Caller,
                                realm: FromPath[str]) -> CheckpointHead:
        """The latest head, with `signature_valid`: checked here against the key registry (a
        careful auditor also checks it offline with the published key)."""
        realm = one_realm(principal, realm)
        head = await checkpoints.head(realm)
        verify = registry_verifier(realm, await checkpoints.registry.keys(), unknown_signer_passes=False)
        return head_of(head, signature_valid=head_signature_ok(head, verify))

    @get("/checkpoints/{realm:str}/{seq:int}", responses=problems(ONE_REALM, errors.CheckpointNotFound))
    async def read_checkpoint(self, checkpoints: Service[Checkpoints], principal: Caller, realm: FromPath[str],
                              seq: FromPath[int]) -> CheckpointHead:
        return head_of(await checkpoints.head(one_realm(principal, realm), seq))

    @get("/checkpoints/{realm:str}/consistency",
         responses=problems(ONE_REALM, errors.CheckpointNotFound, errors.InvalidProofRequest))
    async def consistency_proof(self, checkpoints: Service[Checkpoints], principal: Caller, realm: FromPath[str],
                                first: FromQuery[int], second: FromQuery[int]) -> ConsistencyProof:
        """Proof that checkpoint `first`'s tree is a prefix of checkpoint `second`'s."""
        return decoded(ConsistencyProof,
                       await checkpoints.consistency_proof(one_realm(principal, realm), first, second))

    @get("/entries/{entry_id:int}/inclusion",
         responses=problems(errors.EntryNotFound, errors.EntryNotSealed, errors.CheckpointNotFound,
                            errors.InvalidProofRequest))
    async def inclusion_proof(self, ledger: Service[Ledger], checkpoints: Service[Checkpoints], principal: Caller,
                              entry_id: FromPath[int], checkpoint: FromQuery[int | None] = None) -> InclusionProof:
        """Proof that an entry is a leaf of a checkpoint's tree (the latest, or `checkpoint`)."""
        entry = await ledger.entry(entry_id)
        principal.require_realm(entry["realm"])
        return decoded(InclusionProof, await checkpoints.inclusion_proof(entry_id, checkpoint))

    @get("/keys")
    async def ledger_keys(self, checkpoints: Service[Checkpoints], principal: Caller) -> LedgerKeys:
        """The public keys that sign checkpoints, from the key registry: retired and
        acknowledged (stray) keys included."""
        return LedgerKeys([decoded(PublishedKey, key.as_json()) for key in await checkpoints.registry.keys()])


ROUTES = [AuditController]
