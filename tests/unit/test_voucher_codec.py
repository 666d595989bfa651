"""The voucher codec and rules, without a database."""
from datetime import datetime, timedelta, timezone

import pytest

from ledger.keys import KeyRing
from redemption import codec, errors, model, render

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)


def signed(ring: KeyRing, **fields) -> codec.Token:
    kid = ring.active("voucher").kid
    token = codec.Token(**{"key_id": kid, "serial": bytes(range(16)), "realm": "430104",
                           "asset": "civic", "amount": 100, "scope_merchant_id": None,
                           "scope_merchant_kind": None,
                           "expires_at": int((NOW + timedelta(days=30)).timestamp()), **fields})
    _, signature = ring.sign("voucher", token.body())
    return codec.Token(**{**token.__dict__, "signature": signature})


def test_rfc9285_examples():
    assert codec.base45_encode(b"AB") == "BB8"
    assert codec.base45_encode(b"Hello!!") == "%69 VD92EX0"
    assert codec.base45_encode(b"base-45") == "UJCLQE7W581"
    assert codec.base45_decode("QED8WEX0") == b"ietf!"
    with pytest.raises(errors.VoucherCodeMalformed):
        codec.base45_decode("GGW")  # 65535 < value: not valid Base45


def test_a_code_round_trips_in_162_alphanumeric_characters_and_a_version_7_qr(tmp_path):
    ring = KeyRing(tmp_path)
    for fields in ({}, {"scope_merchant_id": 2**40}, {"scope_merchant_kind": "agri_shop", "asset": "agri"}):
        token = signed(ring, **fields)
        code = codec.encode(token)
        assert len(code) == codec.CODE_LENGTH == 162
        assert set(code) <= set(codec.BASE45_ALPHABET)
        assert codec.decode(code) == token
        assert model.verify(codec.decode(code), ring.public_key(token.key_id), NOW) == token
        assert render.qr_matrix(code).version <= 7


def test_signature_from_another_key_and_unknown_key_are_refused(tmp_path):
    ring, stranger = KeyRing(tmp_path / "a"), KeyRing(tmp_path / "b")
    ring.active("voucher")  # both rings have a key 1, with different secrets
    token = signed(stranger)
    with pytest.raises(errors.VoucherSignatureInvalid):
        model.verify(token, ring.public_key(token.key_id), NOW)
    with pytest.raises(errors.VoucherKeyUnknown):
        model.verify(token, None, NOW)


def test_a_retired_key_verifies_until_its_vouchers_have_expired(tmp_path):
    ring = KeyRing(tmp_path)
    token = signed(ring)
    retired = ring.rotate("voucher") and ring.public_key(token.key_id)
    assert retired.retired_at is not None
    assert model.verify(token, retired, retired.retired_at + timedelta(days=30)) == token
    with pytest.raises(errors.VoucherKeyRetired):
        model.verify(token, retired, retired.retired_at + timedelta(seconds=model.KEY_GRACE_S + 1))


def test_short_codes_are_case_insensitive_and_catch_typos():
    stored = codec.short_code(bytes(range(16)))
    shown = codec.format_short_code(stored)
    assert codec.parse_short_code(shown.lower()) == stored
    assert codec.parse_short_code(shown.replace("-", " ")) == stored
    for position in range(13):
        for replacement in codec.CROCKFORD:
            if replacement == stored[position]:
                continue
            typo = stored[:position] + replacement + stored[position + 1:]
            with pytest.raises(errors.ShortCodeInvalid):
                codec.parse_short_code(typo)
    for position in range(12):
        swapped = stored[:position] + stored[position + 1] + stored[position] + stored[position + 2:]
        if swapped != stored:
            with pytest.raises(errors.ShortCodeInvalid):
                codec.parse_short_code(swapped)


def test_short_codes_have_no_symbols_and_old_codes_still_parse():
    for seed in range(2000):
        serial = seed.to_bytes(2, "big") * 8
        assert set(codec.short_code(serial)) <= set(codec.CROCKFORD)
        legacy = codec.legacy_short_code(serial)
        assert codec.parse_legacy_short_code(codec.format_short_code(legacy).lower()) == legacy
    assert codec.parse_legacy_short_code("0000-0000-0000-0") == "0000000000000"
    assert codec.parse_legacy_short_code("0000-0000-0000-1") is None


def test_expiry_is_local_midnight_after_the_last_day():
    issued = datetime(2026, 11, 28, 17, 0, tzinfo=timezone.utc)  # 01:00 on the 29th in Shanghai
    assert model.expiry(issued, 30, "Asia/Shanghai") == datetime(2026, 12, 29, 16, 0, tzinfo=timezone.utc)
    assert model.expiry(issued, 1, "UTC") == datetime(2026, 11, 30, 0, 0, tzinfo=timezone.utc)


def test_scope_rules():
    agri = model.Merchant(1, "430104", "agri_shop", "active")
    shop = model.Merchant(2, "430104", "general", "active")
    model.check_scope("agri", agri, None)
    model.check_scope("agri", None, "agri_shop")
    model.check_scope("civic", None, None)
    with pytest.raises(errors.AgriScopeRequired):
        model.check_scope("agri", shop, None)
    with pytest.raises(errors.VoucherScopeInvalid):
        model.check_scope("civic", shop, "general")
    with pytest.raises(errors.MerchantNotActive):
        model.check_scope("civic", model.Merchant(3, "430104", "general", "closed"), None)


def test_the_pdf_is_one_a6_page(tmp_path):
    ring = KeyRing(tmp_path)
    printed = render.PrintedVoucher(code=codec.encode(signed(ring)), short_code="ABCD-EFGH-JKMN-P",
                                    amount=100, asset="civic", expires_at=NOW, timezone="Asia/Shanghai",
                                    realm_name="长沙市岳麓区", scope=None)
    pdf = render.voucher_pdf(printed)
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") >= 1
    assert render.qr_svg(printed.code).lstrip().startswith(b"<")


def test_the_pdf_without_a_cjk_font_falls_back_to_latin_text(tmp_path, monkeypatch):
    """A machine with no CJK font still prints a merchant-scoped voucher (no 500)."""
    monkeypatch.setattr(render, "cjk_font_path", lambda: None)
    ring = KeyRing(tmp_path)
    printed = render.PrintedVoucher(
        code=codec.encode(signed(ring)), short_code="ABCD-EFGH-JKMN-P", amount=100, asset="agri",
        expires_at=NOW, timezone="Asia/Shanghai", realm_name="长沙市岳麓区",
        scope=render.scope_label("莲花镇助农店", None), scope_en=render.scope_label_en(7, None))
    pdf = render.voucher_pdf(printed)
    assert pdf.startswith(b"%PDF") and pdf.rstrip().endswith(b"%%EOF")
