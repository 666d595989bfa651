"""The one idempotency module: key check, request hash, replay answer."""
import asyncio
import hashlib
import json

import pytest
from hypothesis import given, strategies as st

from earning import model as earning_model
from ledger import errors, idempotency, model
from merchants import model as merchants_model
from redemption import model as redemption_model


@pytest.mark.parametrize("key", ["", " ", "a" * (idempotency.KEY_LENGTH_MAX + 1), "ключ", "a\nb", 7])
def test_bad_keys_are_refused(key):
    with pytest.raises(errors.InvalidIdempotencyKey):
        idempotency.check_key(key)


def test_a_required_key_must_be_sent_and_well_formed():
    assert idempotency.check_key(None) is None
    assert idempotency.require_key("k-1") == "k-1"
    with pytest.raises(errors.IdempotencyKeyRequired):
        idempotency.require_key(None)
    with pytest.raises(errors.InvalidIdempotencyKey):
        idempotency.require_key("a b")


def test_one_hash_type_bytes_of_sha256():
    assert isinstance(idempotency.request_hash({"a": 1}), bytes)
    assert len(idempotency.request_hash([1, 2])) == idempotency.HASH_BYTES
    assert idempotency.request_hash({"a": 1, "b": 2}) == idempotency.request_hash({"b": 2, "a": 1})


memo = st.text(max_size=20)


@given(memo=memo, amount=st.integers(1, 10**6), reference=st.one_of(st.none(), memo))
def test_entry_hashes_are_what_the_ledger_stored_before(memo, amount, reference):
    """Keys taken before the hash had one home must still replay: same bytes as the old
    `ledger.model.request_hash` (hex of SHA-256 of its JSON)."""
    draft = model.EntryDraft("430104", "earn", (model.Line(2, amount), model.Line(1, -amount)), "x",
                             idempotency_key="k", reference=reference, memo=memo)
    old = hashlib.sha256(json.dumps({
        "realm": "430104", "kind": "earn", "lines": sorted([(1, -amount), (2, amount)]),
        "reference": reference, "memo": memo, "reverses": None,
    }, separators=(",", ":"), sort_keys=True).encode()).hexdigest()
    assert model.request_hash(draft).hex() == old


@given(records=st.lists(st.tuples(st.integers(1, 10**9), st.integers(1, 1440)), max_size=5))
def test_attendance_hashes_are_what_earning_stored_before(records):
    parsed = [earning_model.Record(n, 7, r, m) for n, (r, m) in enumerate(records, start=1)]
    old = hashlib.sha256(json.dumps([7, [(r, m) for r, m in records]], separators=(",", ":")).encode()).digest()
    assert earning_model.attendance_hash(7, parsed) == old


@given(amount=st.one_of(st.none(), st.integers(1, 10**6)), serial=st.binary(min_size=16, max_size=16))
def test_voucher_and_settlement_hashes_are_what_was_stored_before(amount, serial):
    fields = {"op": "redeem", "serial": serial.hex(), "amount": amount}
    old = hashlib.sha256(json.dumps(fields, separators=(",", ":"), sort_keys=True, default=str).encode()).digest()
    assert redemption_model.request_hash(**fields) == old
    settle = {"merchant_id": amount, "to": "2026-11-30", "period_start": None}
    old_settle = hashlib.sha256(json.dumps({"op": "settle", **settle}, sort_keys=True, separators=(",", ":"),
                                           ensure_ascii=False).encode()).digest()
    assert merchants_model.settlement_request_hash(**settle) == old_settle


def test_same_key_same_request_replays_the_first_answer_flagged():
    request = idempotency.request_hash({"amount": 5})
    first = {"id": 9, "request_hash": request, "amount": 5}
    assert idempotency.replay(None, request, "another voucher") is None
    assert idempotency.replay(first, request, "another voucher") == {**first, "replayed": True}
    from_sql = {**first, "request_hash": request.hex()}   # as SQL's JSON hands it back
    assert idempotency.replay(from_sql, request, "another voucher")["replayed"] is True
    assert idempotency.fresh({"id": 1}) == {"id": 1, "replayed": False}


def test_same_key_different_request_is_a_409_naming_the_first():
    first = {"id": 9, "request_hash": memoryview(idempotency.request_hash({"amount": 5}))}
    with pytest.raises(errors.IdempotencyKeyReused) as refused:
        idempotency.replay(first, idempotency.request_hash({"amount": 6}), "another voucher", "voucher_id")
    assert refused.value.code == "idempotency_key_reused"
    assert refused.value.context["voucher_id"] == 9
    assert issubclass(errors.IdempotencyKeyReused, errors.Conflict)


def test_replay_headers():
    assert idempotency.replay_headers(True) == {"Idempotent-Replayed": "true"}
    assert idempotency.replay_headers(False) == {}


def test_once_runs_again_only_after_a_raced_twin():
    calls = []

    class Raced(Exception):
        pass

    async def attempt():
        calls.append(1)
        if len(calls) == 1:
            raise Raced()
        return "the twin's answer"

    assert asyncio.run(idempotency.once(attempt, Raced)) == "the twin's answer"
    assert len(calls) == 2

    async def refused():
        raise errors.InsufficientPoints("no")

    with pytest.raises(errors.InsufficientPoints):
        asyncio.run(idempotency.once(refused, Raced))
