"""RFC 9162 trees: every proof the tree gives verifies, and no altered one does."""
import hashlib

from hypothesis import given, settings, strategies as st

from ledger import merkle


def leaves(count: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(count)]


def reference_root(items: list[bytes]) -> bytes:
    """MTH straight from the RFC's recursive definition."""
    if not items:
        return hashlib.sha256(b"").digest()
    if len(items) == 1:
        return items[0]
    k = 1 << ((len(items) - 1).bit_length() - 1)
    return merkle.node_hash(reference_root(items[:k]), reference_root(items[k:]))


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=70))
def test_frontier_and_tree_match_the_rfc_definition(count):
    items = leaves(count)
    assert merkle.root_of(items) == reference_root(items)
    if count:
        assert merkle.Tree(items).root() == reference_root(items)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_inclusion_proofs_verify_and_tampering_fails(data):
    size = data.draw(st.integers(min_value=1, max_value=70))
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    items = leaves(size)
    tree = merkle.Tree(items)
    root = tree.root(size)
    proof = tree.inclusion_proof(index, size)
    assert merkle.verify_inclusion(items[index], index, size, proof, root)
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"forged"), index, size, proof, root)
    if size > 1:
        assert not merkle.verify_inclusion(items[index], (index + 1) % size, size, proof, root)
    if proof:
        bent = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
        assert not merkle.verify_inclusion(items[index], index, size, bent, root)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_consistency_proofs_verify_and_rewrites_fail(data):
    new_size = data.draw(st.integers(min_value=1, max_value=70))
    old_size = data.draw(st.integers(min_value=1, max_value=new_size))
    items = leaves(new_size)
    tree = merkle.Tree(items)
    old_root, new_root = reference_root(items[:old_size]), reference_root(items)
    proof = tree.consistency_proof(old_size, new_size)
    assert merkle.verify_consistency(old_size, new_size, old_root, new_root, proof)
    rewritten = list(items)
    rewritten[data.draw(st.integers(min_value=0, max_value=old_size - 1))] = merkle.leaf_hash(b"x")
    assert not merkle.verify_consistency(old_size, new_size, reference_root(rewritten[:old_size]),
                                         new_root, proof)
    if old_size < new_size:
        assert not merkle.verify_consistency(old_size, new_size, old_root,
                                             reference_root(rewritten), proof)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=40), st.integers(min_value=1, max_value=40))
def test_a_frontier_resumes_where_it_stopped(first, more):
    items = leaves(first + more)
    start = merkle.Frontier()
    for leaf in items[:first]:
        start.append(leaf)
    resumed = merkle.Frontier(start.size, start.hashes)
    for leaf in items[first:]:
        resumed.append(leaf)
    assert resumed.root() == reference_root(items)
