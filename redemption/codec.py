"""The voucher token codec (pure: no I/O, no clock, no keys of its own).

Layout, version 1, big-endian, 105 bytes:

    offset size field
    0      1    version (1)
    1      2    key id (which Ed25519 key signed it)
    3      16   serial (random, 128 bits)
    19     4    realm (the 6-digit code as an integer)
    23     1    asset (0 civic, 1 agri)
    24     4    amount (points)
    28     1    scope kind (0 any merchant, 1 one merchant, 2 a merchant kind)
    29     8    scope value (merchant id, or the kind's index in SCOPE_KINDS)
    37     4    expiry (Unix seconds, UTC)
    41     64   Ed25519 signature over bytes 0..40

Text form: `PB1:` + Base45 (RFC 9285) of the 105 bytes = 162 characters, all in the QR
alphanumeric set, so the QR is version 7 at error correction M. No personal data.

Short code (paper vouchers, typed or read aloud): the serial's first 60 bits in Crockford
base32 (12 characters) and a check character from the same 32 letters and digits (no
symbols), shown as `XXXX-XXXX-XXXX-C`. Reading is case-insensitive, ignores hyphens and
spaces, and maps O to 0 and I, L to 1.

The check is a weighted sum in the field GF(32) (characters as its elements, weights the
powers of 2 = x, modulus x^5 + x^2 + 1), chosen so the 13-character sum is zero. One wrong
character at place k changes the sum by 2^k·e ≠ 0; swapping unequal neighbours x, y at
places k+1, k changes it by 2^k·(2 + 1)·(x + y) ≠ 0 (addition is XOR, 3 ≠ 0): so every
single substitution and every adjacent transposition, the check character included, is
caught (tests/property/test_short_code_check.py tries every place).

Codes issued before (`legacy_short_code`: a mod-37 check that could be one of `*~$=U`)
stay redeemable until they expire: a typed code that fails the new check is looked up
under the old one, and a miss is still reported as a typo.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from ledger.assets import ASSETS
from redemption import errors

PREFIX = "PB1:"
VERSION = 1
SCOPE_ANY, SCOPE_MERCHANT, SCOPE_KIND = 0, 1, 2
SCOPE_KINDS = ("general", "agri_shop", "service_provider")
SERIAL_BYTES = 16
SIGNATURE_BYTES = 64
_BODY = struct.Struct(">BH16sIBIBQI")
BODY_BYTES = _BODY.size                      # 41
TOKEN_BYTES = BODY_BYTES + SIGNATURE_BYTES   # 105
CODE_LENGTH = len(PREFIX) + TOKEN_BYTES // 2 * 3 + 2   # 162
AMOUNT_MAX = 2**32 - 1

BASE45_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_BASE45_VALUE = {char: value for value, char in enumerate(BASE45_ALPHABET)}

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LEGACY_CHECK = CROCKFORD + "*~$=U"             # the 37 check symbols of codes issued before
GF32_MODULUS = 0b100101                        # x^5 + x^2 + 1, irreducible over GF(2)
_CROCKFORD_VALUE = {char: value for value, char in enumerate(CROCKFORD)}
_CROCKFORD_VALUE.update({"O": 0, "I": 1, "L": 1})
SHORT_CODE_DIGITS = 12
SHORT_CODE_BITS = SHORT_CODE_DIGITS * 5       # 60
SHORT_CODE_SEED_BYTES = 8                      # random bytes a short code is made of


@dataclass(frozen=True)
class Token:
    """What a voucher code says. `expires_at` is Unix seconds, UTC."""
    key_id: int
    serial: bytes
    realm: str
    asset: str
    amount: int
    scope_merchant_id: int | None
    scope_merchant_kind: str | None
    expires_at: int
    signature: bytes = b""

    def body(self) -> bytes:
        """The signed bytes."""
        if self.scope_merchant_id is not None:
            scope, value = SCOPE_MERCHANT, self.scope_merchant_id
        elif self.scope_merchant_kind is not None:
            scope, value = SCOPE_KIND, SCOPE_KINDS.index(self.scope_merchant_kind)
        else:
            scope, value = SCOPE_ANY, 0
        return _BODY.pack(VERSION, self.key_id, self.serial, int(self.realm), ASSETS.index(self.asset),
                          self.amount, scope, value, self.expires_at)


# Base45 (RFC 9285) ------------------------------------------------------------------------

def base45_encode(raw: bytes) -> str:
    out = []
    for i in range(0, len(raw) - 1, 2):
        n = raw[i] * 256 + raw[i + 1]
        n, c = divmod(n, 45)
        e, d = divmod(n, 45)
        out += (BASE45_ALPHABET[c], BASE45_ALPHABET[d], BASE45_ALPHABET[e])
    if len(raw) % 2:
        d, c = divmod(raw[-1], 45)
        out += (BASE45_ALPHABET[c], BASE45_ALPHABET[d])
    return "".join(out)


def base45_decode(text: str) -> bytes:
    if len(text) % 3 == 1:
        raise errors.VoucherCodeMalformed("the code's length is not a Base45 length")
    try:
        values = [_BASE45_VALUE[char] for char in text]
    except KeyError:
        raise errors.VoucherCodeMalformed("the code has a character outside Base45") from None
    out = bytearray()
    for i in range(0, len(values) - 2, 3):
        n = values[i] + values[i + 1] * 45 + values[i + 2] * 2025
        if n > 0xFFFF:
            raise errors.VoucherCodeMalformed("the code is not valid Base45")
        out += n.to_bytes(2, "big")
    if len(values) % 3 == 2:
        n = values[-2] + values[-1] * 45
        if n > 0xFF:
            raise errors.VoucherCodeMalformed("the code is not valid Base45")
        out.append(n)
    return bytes(out)


# Tokens ------------------------------------------------------------------------------------

def encode(token: Token) -> str:
    """The code text of a signed token."""
    if len(token.signature) != SIGNATURE_BYTES:
        raise ValueError("sign the token before encoding it")
    return PREFIX + base45_encode(token.body() + token.signature)


def decode(code: object) -> Token:
    """Parse a code (no signature check: see `redemption.model.verify`). Any input gives a
    Token or a VoucherCodeError subclass, never another exception."""
    if not isinstance(code, str):
        raise errors.VoucherCodeMalformed("a voucher code is text")
    text = code.strip()
    if not text.startswith(PREFIX):
        raise errors.VoucherPrefixInvalid(f"a voucher code starts with {PREFIX}")
    payload = text[len(PREFIX):]
    if len(payload) > CODE_LENGTH:
        raise errors.VoucherCodeMalformed("the code is too long")
    raw = base45_decode(payload)
    if len(raw) < 1 or raw[0] != VERSION:
        raise errors.VoucherVersionUnknown("this voucher layout version is unknown")
    if len(raw) != TOKEN_BYTES:
        raise errors.VoucherCodeMalformed("the code is truncated or too long")
    version, key_id, serial, realm, asset, amount, scope, value, expiry = _BODY.unpack_from(raw)
    if asset >= len(ASSETS) or scope > SCOPE_KIND or not 0 <= realm <= 999_999:
        raise errors.VoucherCodeMalformed("the code has a field out of range")
    if scope == SCOPE_KIND and value >= len(SCOPE_KINDS):
        raise errors.VoucherCodeMalformed("the code names an unknown merchant kind")
    if scope == SCOPE_ANY and value != 0:
        raise errors.VoucherCodeMalformed("the code has a field out of range")
    return Token(key_id=key_id, serial=serial, realm=f"{realm:06d}", asset=ASSETS[asset],
                 amount=amount, scope_merchant_id=value if scope == SCOPE_MERCHANT else None,
                 scope_merchant_kind=SCOPE_KINDS[value] if scope == SCOPE_KIND else None,
                 expires_at=expiry, signature=raw[BODY_BYTES:])


# Short codes -------------------------------------------------------------------------------

def _times_x(value: int) -> int:
    """`value` times x in GF(32)."""
    value <<= 1
    return value ^ GF32_MODULUS if value & 0b100000 else value


def check_sum(values: list[int]) -> int:
    """Σ 2^(n-1-k)·values[k] in GF(32), by Horner's rule."""
    total = 0
    for value in values:
        total = _times_x(total) ^ value
    return total


def check_character(digits: str) -> str:
    """The character that makes the sum over `digits` + it zero."""
    return CROCKFORD[_times_x(check_sum([_CROCKFORD_VALUE[char] for char in digits]))]


def short_code(seed: bytes) -> str:
    """The 13 characters stored (no hyphens): 12 Crockford digits and the check character.
    `seed` is random and secret: never the serial, which ledger references show."""
    digits = _serial_digits(seed)
    return digits + check_character(digits)


def legacy_short_code(serial: bytes) -> str:
    """The short code as issued before the GF(32) check (for tests and old vouchers)."""
    digits = _serial_digits(serial)
    return digits + LEGACY_CHECK[_number(digits) % 37]


def _serial_digits(seed: bytes) -> str:
    number = int.from_bytes(seed[:SHORT_CODE_SEED_BYTES], "big") >> (64 - SHORT_CODE_BITS)
    return "".join(CROCKFORD[(number >> (5 * i)) & 31] for i in reversed(range(SHORT_CODE_DIGITS)))


def _number(digits: str) -> int:
    number = 0
    for char in digits:
        number = number * 32 + _CROCKFORD_VALUE[char]
    return number


def format_short_code(stored: str) -> str:
    return f"{stored[0:4]}-{stored[4:8]}-{stored[8:12]}-{stored[12]}"


SHORT_CODE_FORMAT = "a short code is 13 letters and digits, like ABCD-EFGH-JKMN-P"


def normalize_short_code(typed: object) -> str:
    """Upper case, no hyphens or spaces, O read as 0 and I, L as 1; 13 characters."""
    if not isinstance(typed, str) or len(typed) > 40:
        raise errors.ShortCodeInvalid(SHORT_CODE_FORMAT)
    text = typed.upper().replace("-", "").replace(" ", "")
    if len(text) != SHORT_CODE_DIGITS + 1:
        raise errors.ShortCodeInvalid(SHORT_CODE_FORMAT)
    return text


def parse_short_code(typed: object) -> str:
    """A typed short code in its stored form, or ShortCodeInvalid (typo caught)."""
    text = normalize_short_code(typed)
    for char in text:
        if char not in _CROCKFORD_VALUE:
            raise errors.ShortCodeInvalid(f"{char!r} is not used in short codes")
    stored = "".join(CROCKFORD[_CROCKFORD_VALUE[char]] for char in text)
    if check_sum([_CROCKFORD_VALUE[char] for char in stored]) != 0:
        raise errors.ShortCodeInvalid("the short code's check character does not match: check for a typo")
    return stored


def parse_legacy_short_code(typed: object) -> str | None:
    """The stored form of a code issued before the GF(32) check, if `typed` passes the old
    mod-37 check; None otherwise."""
    text = normalize_short_code(typed)
    digits = text[:SHORT_CODE_DIGITS]
    if any(char not in _CROCKFORD_VALUE for char in digits):
        return None
    check = {"O": "0", "I": "1", "L": "1"}.get(text[-1], text[-1])
    digits = "".join(CROCKFORD[_CROCKFORD_VALUE[char]] for char in digits)
    return digits + check if check == LEGACY_CHECK[_number(digits) % 37] else None
