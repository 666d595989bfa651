"""Signed checkpoints: a Merkle tree per realm over its committed entries.

Sealing takes every entry whose database transaction ended before the oldest one still
running in this database (`checkpoint_repository.sealing_horizon`) and that is not
sealed yet, gives each the next leaf
position (in entry id order), and signs the new root with the ledger key, chained to the
previous checkpoint. An entry that took its id early and committed late is sealed by the
first checkpoint after it committed; the table's key (realm, entry_id) refuses sealing it
twice. Since every transaction below a checkpoint's `sealed_below_txid` had ended when it
was sealed, an entry below that mark that is not sealed was written behind the ledger's
back, and the audit names it.

What a checkpoint cannot see: an entry committed and then deleted (by someone bypassing
the triggers) before any checkpoint sealed it. Keep `SEAL_INTERVAL_S` short; the audit's
balance checks still catch such a deletion unless the balances were rewritten too.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger import checkpoint_repository as repository
from ledger import db, errors, merkle, model, paging
from ledger.key_registry import KeyRegistry, RegisteredKey
from ledger.keys import KeyRing, PublicKey
from ledger.require import require

KEY_PURPOSE = "ledger"
HEAD_FORMAT = "pointsbank-checkpoint-v1"
SEAL_INTERVAL_S = 10.0              # how often `serve` seals
SEAL_ENTRIES_MAX = 200_000          # leaves in one checkpoint; the rest go in the next
# leaves hashed between two turns of the event loop: a round's thousands of leaves would
# otherwise hold every request of the sealing process for tens of milliseconds
SEAL_LEAVES_PER_SLICE = 500
SEAL_WAIT_S_MAX = 10.0              # seal_current's patience with running transactions
CHECKPOINT_CURSOR = paging.Cursor("p1")
SEAL_RETRY_PAUSE_S = 0.05
OFFENDING_MAX = 100                 # ids named per problem kind in a verification
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

log = logging.getLogger(__name__)


# heads (pure) --------------------------------------------------------------------------

def micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def head_message(realm: str, seq: int, tree_size: int, root_hash: bytes,
                 previous_head_hash: bytes | None, created_at_us: int, key_id: int) -> bytes:
    """The bytes a checkpoint's signature covers; their SHA-256 is the head hash the
    next checkpoint chains to."""
    return "\n".join((
        HEAD_FORMAT, f"realm={realm}", f"seq={seq}", f"tree_size={tree_size}",
        f"root={root_hash.hex()}",
        f"previous={previous_head_hash.hex() if previous_head_hash else '-'}",
        f"created_at_us={created_at_us}", f"key_id={key_id}", "")).encode()


def head_json(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint head as published: everything needed to check its signature."""
    previous = checkpoint["previous_head_hash"]
    return {
        "realm": checkpoint["realm"], "seq": checkpoint["seq"],
        "tree_size": checkpoint["tree_size"], "root_hash": bytes(checkpoint["root_hash"]).hex(),
        "previous_head_hash": bytes(previous).hex() if previous else None,
        "head_hash": bytes(checkpoint["head_hash"]).hex(),
        "created_at": checkpoint["created_at"].astimezone(timezone.utc).isoformat(),
        "created_at_us": micros(checkpoint["created_at"]),
        "key_id": checkpoint["key_id"], "signature": bytes(checkpoint["signature"]).hex(),
    }


def head_line(head: dict[str, Any]) -> str:
    """One line to print, post or archive."""
    return (f"pointsbank checkpoint realm={head['realm']} seq={head['seq']} "
            f"size={head['tree_size']} root={head['root_hash']} head={head['head_hash']} "
            f"key={head['key_id']} sig={head['signature']}")


def published_message(head: dict[str, Any]) -> bytes:
    """The signed bytes of a published head (`head_json`)."""
    return head_message(head["realm"], head["seq"], head["tree_size"], bytes.fromhex(head["root_hash"]),
                        bytes.fromhex(head["previous_head_hash"]) if head["previous_head_hash"] else None,
                        head["created_at_us"], head["key_id"])


def head_signature_ok(head: dict[str, Any], verify: Callable[[int, bytes, bytes], bool]) -> bool:
    """The head hashes to its `head_hash` and its signature verifies (the chain aside)."""
    message = published_message(head)
    return (hashlib.sha256(message).hexdigest() == head["head_hash"]
            and verify(head["key_id"], message, bytes.fromhex(head["signature"])))


def head_problems(head: dict[str, Any], previous: dict[str, Any] | None,
                  verify: Callable[[int, bytes, bytes], bool]) -> list[str]:
    """What is wrong with a published head, given the head before it (None for the
    first) and a signature check `verify(key_id, message, signature)`."""
    problems = []
    message = published_message(head)
    if hashlib.sha256(message).hexdigest() != head["head_hash"]:
        problems.append("head hash does not match the head")
    if not verify(head["key_id"], message, bytes.fromhex(head["signature"])):
        problems.append("signature does not verify")
    expected_seq = previous["seq"] + 1 if previous else 1
    if head["seq"] != expected_seq:
        problems.append(f"sequence jumps to {head['seq']} (expected {expected_seq})")
    if head["previous_head_hash"] != (previous["head_hash"] if previous else None):
        problems.append("does not chain to the previous checkpoint")
    if previous and head["tree_size"] <= previous["tree_size"]:
        problems.append("tree did not grow")
    return problems


# service -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    """One thing a verification found wrong."""
    realm: str
    problem: str
    checkpoint_seq: int | None = None
    entry_id: int | None = None
    leaf_index: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class Checkpoints:
    def __init__(self, engine: AsyncEngine, keys: KeyRing) -> None:
        self.engine = engine
        self.keys = keys
        self.registry = KeyRegistry(engine, keys)

    # sealing -------------------------------------------------------------------------

    async def seal(self, realm: str) -> dict[str, Any] | None:
        """Seal the realm's newly committed entries; the new head, or None if none.
        Refused (`sealing_key_not_current`) unless this process holds the realm's
        registered current ledger key."""
        model.check_realm_code(realm)
        await self.registry.register_local()
        return await db.in_transaction(self.engine, lambda conn: self.seal_in(conn, realm))

    async def seal_all(self) -> list[dict[str, Any]]:
        """Seal every realm (one transaction each); the new heads."""
        realms = await db.read(self.engine, repository.realm_codes)
        heads = []
        for realm in realms:
            head = await self.seal(realm)
            if head is not None:
                heads.append(head)
        return heads

    async def seal_periodically(self) -> list[dict[str, Any]]:
        """`serve`'s round: `seal_all`, except that a process whose key is not the
        registered one says so in one line and seals nothing (no traceback every round)."""
        try:
            return await self.seal_all()
        except errors.SealingKeyNotCurrent as refused:
            log.warning("checkpoint sealing: not sealing: %s", refused.detail)
            return []

    async def seal_in(self, conn: AsyncConnection, realm: str) -> dict[str, Any] | None:
        await repository.lock_realm(conn, realm)
        if not await repository.realm_exists(conn, realm):
            raise errors.RealmNotFound(f"no realm {realm}", realm=realm)
        signer = await self.registry.signer(conn, realm)
        last = await repository.last_checkpoint(conn, realm)
        from_txid = last["sealed_below_txid"] if last else 0
        below_txid = max(from_txid, await repository.sealing_horizon(conn))
        seq = last["seq"] + 1 if last else 1
        frontier = (merkle.Frontier(last["tree_size"], [bytes(h) for h in last["frontier"]])
                    if last else merkle.Frontier())
        leaves = await repository.seal_entries(conn, realm, seq, frontier.size, from_txid,
                                               below_txid, SEAL_ENTRIES_MAX)
        if not leaves:
            return None
        for start in range(0, len(leaves), SEAL_LEAVES_PER_SLICE):
            for index, leaf in leaves[start:start + SEAL_LEAVES_PER_SLICE]:
                require(index == frontier.size, "sealed leaves take the next positions")
                frontier.append(leaf)
            await asyncio.sleep(0)   # the requests this process serves run between slices
        if len(leaves) == SEAL_ENTRIES_MAX:
            below_txid = from_txid  # some may be left: the next checkpoint looks again
        checkpoint = self._signed(realm, seq, frontier, last, below_txid, signer)
        await repository.insert_checkpoint(conn, checkpoint)
        return head_json(checkpoint)

    def _signed(self, realm: str, seq: int, frontier: merkle.Frontier,
                last: dict[str, Any] | None, below_txid: int, signer: PublicKey) -> dict[str, Any]:
        created_at = datetime.now(timezone.utc)
        previous = bytes(last["head_hash"]) if last else None
        root = frontier.root()
        key_id = signer.registry_id
        message = head_message(realm, seq, frontier.size, root, previous, micros(created_at), key_id)
        signature = self.keys.sign_with(signer, message)
        return {"realm": realm, "seq": seq, "tree_size": frontier.size, "root_hash": root,
                "previous_head_hash": previous, "head_hash": hashlib.sha256(message).digest(),
                "frontier": frontier.hashes, "sealed_below_txid": below_txid,
                "key_id": key_id, "signature": signature, "created_at": created_at}

    async def seal_current(self, realm: str, wait_s_max: float = SEAL_WAIT_S_MAX) -> list[dict[str, Any]]:
        """Seal until every entry committed before this call is sealed: a transaction
        still running elsewhere on the server holds sealing back, so this retries for up
        to `wait_s_max`; the new heads."""
        model.check_realm_code(realm)
        heads = []
        deadline = asyncio.get_running_loop().time() + wait_s_max
        newest = await db.read(self.engine, lambda conn: repository.newest_entry_id(conn, realm))
        while True:
            head = await self.seal(realm)
            if head is not None:
                heads.append(head)
            left = await db.read(self.engine, lambda conn: repository.unsealed_count(conn, realm, newest))
            if left == 0 or asyncio.get_running_loop().time() > deadline:
                return heads
            await asyncio.sleep(SEAL_RETRY_PAUSE_S)

    # reading -------------------------------------------------------------------------

    async def head(self, realm: str, seq: int | None = None) -> dict[str, Any]:
        async def work(conn: AsyncConnection) -> dict[str, Any] | None:
            if seq is None:
                return await repository.last_checkpoint(conn, realm)
            return await repository.find_checkpoint(conn, realm, seq)

        found = await db.read(self.engine, work)
        if found is None:
            raise errors.CheckpointNotFound(f"no checkpoint {seq or '(latest)'} in realm {realm}",
                                     realm=realm)
        return head_json(found)

    async def heads(self, realm: str, cursor: str | None, limit: int | None) -> tuple[list[dict[str, Any]], str | None]:
        before = CHECKPOINT_CURSOR.decode(cursor)
        size = paging.check_page_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.checkpoints_page(
            conn, realm, before, paging.fetch_size(size)))
        page = paging.page_of(rows, size, CHECKPOINT_CURSOR.after("seq"))
        return [head_json(row) for row in page.items], page.next_cursor

    async def inclusion_proof(self, entry_id: int, seq: int | None = None) -> dict[str, Any]:
        """Proof that an entry is leaf `leaf_index` of the tree a checkpoint signed."""
        async def work(conn: AsyncConnection) -> dict[str, Any]:
            sealed = await repository.sealed_entry(conn, entry_id)
            if sealed is None:
                raise errors.EntryNotSealed(f"entry {entry_id} is not sealed yet", entry_id=entry_id)
            realm = sealed["realm"]
            checkpoint = (await repository.find_checkpoint(conn, realm, seq) if seq is not None
                          else await repository.last_checkpoint(conn, realm))
            if checkpoint is None:
                raise errors.CheckpointNotFound(f"no checkpoint {seq} in realm {realm}")
            if sealed["leaf_index"] >= checkpoint["tree_size"]:
                raise errors.InvalidProofRequest(f"checkpoint {checkpoint['seq']} predates entry {entry_id}")
            tree = merkle.Tree(await repository.leaf_hashes(conn, realm, checkpoint["tree_size"]))
            proof = tree.inclusion_proof(sealed["leaf_index"], checkpoint["tree_size"])
            return {"realm": realm, "entry_id": entry_id, "leaf_index": sealed["leaf_index"],
                    "leaf_hash": bytes(sealed["leaf_hash"]).hex(),
                    "checkpoint": head_json(checkpoint), "proof": [h.hex() for h in proof]}

        return await db.read(self.engine, work)

    async def consistency_proof(self, realm: str, first: int, second: int) -> dict[str, Any]:
        """Proof that checkpoint `first`'s tree is a prefix of checkpoint `second`'s."""
        if not 1 <= first <= second:
            raise errors.InvalidProofRequest("consistency runs from an earlier checkpoint to a later one")

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            old = await repository.find_checkpoint(conn, realm, first)
            new = await repository.find_checkpoint(conn, realm, second)
            if old is None or new is None:
                raise errors.CheckpointNotFound(f"no checkpoint {first if old is None else second} in realm {realm}")
            tree = merkle.Tree(await repository.leaf_hashes(conn, realm, new["tree_size"]))
            proof = tree.consistency_proof(old["tree_size"], new["tree_size"])
            return {"realm": realm, "first": head_json(old), "second": head_json(new),
                    "proof": [h.hex() for h in proof]}

        return await db.read(self.engine, work)


# verification (the audit's "checkpoints verify") ---------------------------------------

async def verify_realm(conn: AsyncConnection, realm: str, keys: list[RegisteredKey],
                       progress: Callable[[int, int], None] | None = None) -> list[Problem]:
    """Recompute every leaf from the entries as they are now, every root from the leaves,
    and check every head's signature (against the key registry `keys`) and chain; then
    look for entries that should be sealed and are not. A head whose signer is not
    registered is left to the audit's `checkpoint_signer_unknown`."""
    checkpoints = await repository.all_checkpoints(conn, realm)
    problems = _head_problems(realm, checkpoints, keys)
    if not checkpoints:
        return problems
    problems += await _leaf_problems(conn, realm, checkpoints, progress)
    for entry_id in await repository.unsealed_entries(conn, realm, checkpoints[-1]["sealed_below_txid"],
                                                      OFFENDING_MAX):
        problems.append(Problem(realm, "entry committed before the last checkpoint but not sealed",
                                entry_id=entry_id))
    return problems


def registry_verifier(realm: str, keys: list[RegisteredKey],
                      unknown_signer_passes: bool = True) -> Callable[[int, bytes, bytes], bool]:
    """`verify(key_id, message, signature)` for the heads of `realm`: some registered key
    that `key_id` names (its id, or its legacy id) verifies. For the audit an unknown
    signer passes here (it is reported as `checkpoint_signer_unknown` instead)."""
    def verify(key_id: int, message: bytes, signature: bytes) -> bool:
        named = [key for key in keys if key.names(key_id) and key.realm in (None, realm)]
        if not named:
            return unknown_signer_passes
        return any(key.verify(message, signature) for key in named)

    return verify


def _head_problems(realm: str, checkpoints: list[dict[str, Any]], keys: list[RegisteredKey]) -> list[Problem]:
    verify = registry_verifier(realm, keys)

    problems = []
    previous = None
    for checkpoint in checkpoints:
        head = head_json(checkpoint)
        for problem in head_problems(head, previous, verify):
            problems.append(Problem(realm, problem, checkpoint_seq=checkpoint["seq"]))
        previous = head
    return problems


async def _leaf_problems(conn: AsyncConnection, realm: str, checkpoints: list[dict[str, Any]],
                         progress: Callable[[int, int], None] | None) -> list[Problem]:
    problems: list[Problem] = []
    frontier = merkle.Frontier()
    pending = iter(checkpoints)
    checkpoint = next(pending, None)
    total = checkpoints[-1]["tree_size"]
    async for batch in repository.stream_leaves(conn, realm):
        for index, seq, entry_id, leaf, missing, changed in batch:
            if (index != frontier.size or changed) and len(problems) < OFFENDING_MAX:
                problems += _leaf_row_problems(realm, index, seq, entry_id, missing, changed,
                                               frontier.size)
            frontier.append(bytes(leaf))
            while checkpoint is not None and frontier.size == checkpoint["tree_size"]:
                problems += _root_problems(realm, checkpoint, frontier)
                checkpoint = next(pending, None)
        if progress is not None:
            progress(frontier.size, total)
    for missed in ([checkpoint] if checkpoint else []) + list(pending):
        problems.append(Problem(realm, f"checkpoint covers {missed['tree_size']} leaves, "
                                       f"only {frontier.size} are stored",
                                checkpoint_seq=missed["seq"]))
    return problems


def _leaf_row_problems(realm: str, index: int, seq: int, entry_id: int, missing: bool,
                       changed: bool, expected_index: int) -> list[Problem]:
    found = []
    where = dict(checkpoint_seq=seq, entry_id=entry_id, leaf_index=index)
    if index != expected_index:
        found.append(Problem(realm, f"leaf position {expected_index} is missing", **where))
    if missing:
        found.append(Problem(realm, "sealed entry is missing", **where))
    elif changed:
        found.append(Problem(realm, "entry or its postings changed after sealing", **where))
    return found


def _root_problems(realm: str, checkpoint: dict[str, Any], frontier: merkle.Frontier) -> list[Problem]:
    found = []
    if frontier.root() != bytes(checkpoint["root_hash"]):
        found.append(Problem(realm, "root does not match the sealed leaves", checkpoint_seq=checkpoint["seq"]))
    if frontier.hashes != [bytes(h) for h in checkpoint["frontier"]]:
        found.append(Problem(realm, "stored frontier does not match the sealed leaves",
                             checkpoint_seq=checkpoint["seq"]))
    return found
