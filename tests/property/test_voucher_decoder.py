"""Hypothesis: the decoder gives only clean errors, and no single-bit change passes."""
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings, strategies as st

from ledger.keys import KeyRing
from redemption import codec, errors, model

NOW = datetime(2026, 11, 28, tzinfo=timezone.utc)
_RING: list[KeyRing] = []


def ring() -> KeyRing:
    if not _RING:
        import tempfile
        from pathlib import Path

        _RING.append(KeyRing(Path(tempfile.mkdtemp()) / "keys"))
    return _RING[0]


def valid_code(serial: bytes, amount: int, scope: int) -> str:
    keys = ring()
    token = codec.Token(key_id=keys.active("voucher").kid, serial=serial, realm="430104",
                        asset="civic", amount=amount, scope_merchant_id=scope or None,
                        scope_merchant_kind=None, expires_at=int((NOW + timedelta(days=9)).timestamp()))
    _, signature = keys.sign("voucher", token.body())
    return codec.encode(codec.Token(**{**token.__dict__, "signature": signature}))


def read(code: object) -> codec.Token:
    token = codec.decode(code)
    return model.verify(token, ring().public_key(token.key_id), NOW)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200).map(lambda raw: raw.decode("latin-1")),
                 st.text(max_size=200),
                 st.text(alphabet=codec.BASE45_ALPHABET, max_size=170).map(lambda t: codec.PREFIX + t),
                 st.binary(min_size=105, max_size=105).map(lambda raw: codec.PREFIX + codec.base45_encode(raw))))
def test_random_input_gives_only_clean_errors(text):
    try:
        read(text)
    except errors.VoucherCodeError:
        return
    raise AssertionError(f"accepted {text!r}")


@settings(max_examples=25, deadline=None)
@given(st.binary(min_size=16, max_size=16), st.integers(1, 10**6), st.integers(0, 2**40))
def test_every_single_bit_flip_of_a_valid_code_is_refused(serial, amount, scope):
    code = valid_code(serial, amount, scope)
    assert read(code).serial == serial
    raw = code.encode("ascii")
    for index in range(len(raw)):
        for bit in range(8):
            flipped = bytearray(raw)
            flipped[index] ^= 1 << bit
            try:
                read(flipped.decode("latin-1"))
            except errors.VoucherCodeError:
                continue
            raise AssertionError(f"a flip of bit {bit} at {index} was accepted")
