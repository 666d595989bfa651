import stat

from ledger.keys import KeyRing


def test_first_use_creates_a_private_key_readable_only_by_its_owner(tmp_path):
    ring = KeyRing(tmp_path / "keys")
    kid, signature = ring.sign("voucher", b"message")
    assert ring.verify(kid, b"message", signature, "voucher")
    mode = stat.S_IMODE((tmp_path / "keys" / f"{kid}.key").stat().st_mode)
    assert mode == 0o600


def test_a_signature_fails_for_another_message_purpose_or_key(tmp_path):
    ring = KeyRing(tmp_path)
    kid, signature = ring.sign("voucher", b"message")
    assert not ring.verify(kid, b"messagf", signature, "voucher")
    assert not ring.verify(kid, b"message", signature, "ledger")
    other, _ = ring.sign("ledger", b"x")
    assert not ring.verify(other, b"message", signature, "ledger")


def test_rotation_keeps_old_keys_verifying_and_published(tmp_path):
    ring = KeyRing(tmp_path)
    old_kid, old_signature = ring.sign("voucher", b"m")
    new = ring.rotate("voucher")
    assert new.kid != old_kid and ring.active("voucher").kid == new.kid
    assert ring.verify(old_kid, b"m", old_signature, "voucher")
    reloaded = KeyRing(tmp_path)
    published = {k.kid: k for k in reloaded.public_keys("voucher")}
    assert published[old_kid].retired_at is not None and published[new.kid].retired_at is None
