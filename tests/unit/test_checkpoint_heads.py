"""Checkpoint heads: signed, chained, and any edit is named."""
import hashlib

from ledger import checkpoints, merkle
from ledger.checkpoint_repository import full_xid
from ledger.keys import KeyRing


def signed_chain(keys: KeyRing, count: int, purpose: str = "ledger") -> list[dict]:
    heads, previous = [], None
    for seq in range(1, count + 1):
        root = merkle.root_of([merkle.leaf_hash(bytes([i])) for i in range(seq * 2)])
        kid = keys.active(purpose).kid
        message = checkpoints.head_message("430104", seq, seq * 2, root,
                                           bytes.fromhex(previous["head_hash"]) if previous else None,
                                           1_700_000_000_000_000 + seq, kid)
        _, signature = keys.sign(purpose, message)
        import hashlib
        head = {"realm": "430104", "seq": seq, "tree_size": seq * 2, "root_hash": root.hex(),
                "previous_head_hash": previous["head_hash"] if previous else None,
                "head_hash": hashlib.sha256(message).hexdigest(), "created_at_us": 1_700_000_000_000_000 + seq,
                "key_id": kid, "signature": signature.hex()}
        heads.append(head)
        previous = head
    return heads


def problems_of(keys: KeyRing, heads: list[dict]) -> list[list[str]]:
    def verify(kid, message, signature):
        return keys.verify(kid, message, signature, "ledger")

    return [checkpoints.head_problems(head, heads[i - 1] if i else None, verify)
            for i, head in enumerate(heads)]


def test_a_signed_chain_verifies_and_edits_are_named(tmp_path):
    keys = KeyRing(tmp_path)
    heads = signed_chain(keys, 3)
    assert problems_of(keys, heads) == [[], [], []]
    heads[1]["tree_size"] += 1
    assert problems_of(keys, heads)[1] == ["head hash does not match the head", "signature does not verify"]
    dropped = [heads[0], heads[2]]
    assert "sequence jumps to 3 (expected 2)" in problems_of(keys, dropped)[1]
    assert "does not chain to the previous checkpoint" in problems_of(keys, dropped)[1]


def test_a_voucher_key_cannot_sign_checkpoints(tmp_path):
    keys = KeyRing(tmp_path)
    assert problems_of(keys, signed_chain(keys, 1, purpose="voucher")) == [["signature does not verify"]]


def test_full_xid_picks_the_nearest_epoch():
    epoch = 5 << 32
    assert full_xid(100, epoch + 90) == epoch + 100
    assert full_xid(0xFFFFFFF0, epoch + 5) == epoch - 16
    assert full_xid(3, epoch + 0xFFFFFFF0) == epoch + (1 << 32) + 3


def test_leaf_bytes_are_unambiguous():
    entry = {"realm": "430104", "id": 1, "kind": "earn", "reverses_entry_id": None,
             "reference": None, "memo": "a|b", "created_by": "x", "created_at_us": 5}
    other = dict(entry, memo="a", reference="|b")
    postings = [{"account_id": 2, "account_seq": 1, "asset": "civic", "amount": -3, "balance_after": 0},
                {"account_id": 1, "account_seq": 1, "asset": "civic", "amount": 3, "balance_after": 3}]
    assert merkle.leaf_bytes(entry, postings) != merkle.leaf_bytes(other, postings)
    assert merkle.leaf_bytes(entry, postings) == merkle.leaf_bytes(entry, list(reversed(postings)))
    assert merkle.leaf_bytes(entry, postings).startswith(b"pb-leaf-v1")


def test_leaf_bytes_are_exactly_the_published_format():
    """The leaf encoding is a published format (offline verifiers rebuild it): every field,
    in this order, length-prefixed; postings by account. Any change is a new format."""
    entry = {"realm": "430104", "id": 7, "kind": "reversal", "reverses_entry_id": 5,
             "reference": "ref-1", "memo": "冲正", "created_by": "admin:2", "created_at_us": 1700000000000001}
    postings = [{"account_id": 12, "account_seq": 4, "asset": "civic", "amount": -30, "balance_after": 70},
                {"account_id": 3, "account_seq": 9, "asset": "civic", "amount": 30, "balance_after": -130}]
    expected = ("pb-leaf-v1" "6:430104" "1:7" "8:reversal" "1:5" "5:ref-1" "6:冲正" "7:admin:2"
                "16:1700000000000001"
                "|1:3" "1:9" "5:civic" "2:30" "4:-130"
                "|2:12" "1:4" "5:civic" "3:-30" "2:70").encode()
    assert merkle.leaf_bytes(entry, postings) == expected
    assert merkle.entry_leaf_hash(entry, postings) == hashlib.sha256(b"\x00" + expected).digest()
    bare = dict(entry, reverses_entry_id=None, reference=None, memo=None)
    assert merkle.leaf_bytes(bare, postings[:1]).startswith(
        "pb-leaf-v1" "6:430104" "1:7" "8:reversal" "-" "-" "-" "7:admin:2".encode())
