"""Merkle trees as RFC 9162 (Certificate Transparency 2.0) defines them, and the canonical
leaf of a ledger entry. Pure: no I/O.

- leaf hash  = SHA-256(0x00 || leaf bytes); node hash = SHA-256(0x01 || left || right);
- the tree of n leaves splits at k, the largest power of two below n;
- an inclusion proof shows one leaf is in a tree of a given size and root;
- a consistency proof shows a tree of size m is a prefix of a tree of size n.

The database computes the same leaf (view `audit_entry_leaves`, migration 0005); an
offline verifier computes it from an exported entry with `entry_leaf_hash`.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

HASH_SIZE_BYTES = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
LEAF_FORMAT = "pb-leaf-v1"
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two strictly below `size` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


# entry leaves -------------------------------------------------------------------------

def _field(value: Any) -> str:
    if value is None:
        return "-"
    text = str(value)
    return f"{len(text.encode())}:{text}"


def leaf_bytes(entry: Mapping[str, Any], postings: Iterable[Mapping[str, Any]]) -> bytes:
    """The canonical bytes of an entry (`created_at_us`: microseconds since the epoch)
    and its postings, ordered by account."""
    head = LEAF_FORMAT + "".join(_field(entry[name]) for name in (
        "realm", "id", "kind", "reverses_entry_id", "reference", "memo", "created_by",
        "created_at_us"))
    lines = "".join(
        "|" + "".join(_field(posting[name]) for name in (
            "account_id", "account_seq", "asset", "amount", "balance_after"))
        for posting in sorted(postings, key=lambda p: p["account_id"]))
    return (head + lines).encode()


def entry_leaf_hash(entry: Mapping[str, Any], postings: Iterable[Mapping[str, Any]]) -> bytes:
    return leaf_hash(leaf_bytes(entry, postings))


# roots ---------------------------------------------------------------------------------

class Frontier:
    """The perfect subtrees of a growing tree, largest first: enough to append leaves and
    compute the root without rereading earlier leaves."""

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != bin(size).count("1"):
            raise ValueError(f"a tree of {size} leaves has {bin(size).count('1')} perfect subtrees")
        self.size = size
        self.hashes = list(hashes)

    def append(self, leaf: bytes) -> None:
        """Append a leaf hash."""
        merged = leaf
        size = self.size
        while size & 1:
            merged = node_hash(self.hashes.pop(), merged)
            size >>= 1
        self.hashes.append(merged)
        self.size += 1

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        root = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            root = node_hash(left, root)
        return root


def root_of(leaves: Iterable[bytes]) -> bytes:
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


class Tree:
    """All leaf hashes of a tree in memory, for proofs: complete aligned subtrees are kept
    level by level, so any subtree hash costs O(log n)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.levels: list[list[bytes]] = [list(leaves)]
        while len(self.levels[-1]) >= 2:
            below = self.levels[-1]
            self.levels.append([node_hash(below[i], below[i + 1])
                                for i in range(0, len(below) - 1, 2)])
        self.subtree = lru_cache(maxsize=4096)(self._subtree)

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH of leaves [start, end)."""
        count = end - start
        if count == 0:
            return EMPTY_ROOT
        level = count.bit_length() - 1
        if count == 1 << level and start % count == 0:
            return self.levels[level][start >> level]
        k = _split(count)
        return node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        return self.subtree(0, self.size if size is None else size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 PATH(index, D[0:size])."""
        if not 0 <= index < size <= self.size:
            raise ValueError("the leaf is not in a tree of that size")
        return self._path(index, 0, size)

    def _path(self, index: int, start: int, end: int) -> list[bytes]:
        if end - start == 1:
            return []
        k = _split(end - start)
        if index < k:
            return self._path(index, start, start + k) + [self.subtree(start + k, end)]
        return self._path(index - k, start + k, end) + [self.subtree(start, start + k)]

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """RFC 9162 PROOF(old_size, D[0:new_size])."""
        if not 0 < old_size <= new_size <= self.size:
            raise ValueError("consistency needs 0 < old size <= new size <= tree size")
        if old_size == new_size:
            return []
        return self._subproof(old_size, 0, new_size, True)

    def _subproof(self, old_size: int, start: int, end: int, whole: bool) -> list[bytes]:
        if old_size == end - start:
            return [] if whole else [self.subtree(start, end)]
        k = _split(end - start)
        if old_size <= k:
            return self._subproof(old_size, start, start + k, whole) + [self.subtree(start + k, end)]
        return (self._subproof(old_size - k, start + k, end, False)
                + [self.subtree(start, start + k)])


# verification (what an outsider runs) -------------------------------------------------

def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes],
                     root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn, result = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = node_hash(result, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and result == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2."""
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is a subtree
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    old_result = new_result = path[0]
    for sibling in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            old_result = node_hash(sibling, old_result)
            new_result = node_hash(sibling, new_result)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            new_result = node_hash(new_result, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and old_result == old_root and new_result == new_root
