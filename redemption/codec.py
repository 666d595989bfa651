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

Short code (paper vouchers, typed by hand): the serial's first 60 bits in Crockford
base32 (12 characters) and a mod-37 check character, shown as `XXXX-XXXX-XXXX-C`. Reading
is case-insensitive, ignores hyphens and spaces, and maps O to 0 and I, L to 1; the
check character catches any single wrong character and any swap of two neighbours.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from redemption import errors

PREFIX = "PB1:"
VERSION = 1
ASSETS = ("civic", "agri")
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
CROCKFORD_CHECK = CROCKFORD + "*~$=U"          # 37 check symbols
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

def short_code(seed: bytes) -> str:
    """The 13 characters stored (no hyphens): 12 Crockford digits and the check character.
    `seed` is random and secret: never the serial, which ledger references show."""
    number = int.from_bytes(seed[:SHORT_CODE_SEED_BYTES], "big") >> (64 - SHORT_CODE_BITS)
    digits = "".join(CROCKFORD[(number >> (5 * i)) & 31] for i in reversed(range(SHORT_CODE_DIGITS)))
    return digits + CROCKFORD_CHECK[number % 37]


def format_short_code(stored: str) -> str:
    return f"{stored[0:4]}-{stored[4:8]}-{stored[8:12]}-{stored[12]}"


def parse_short_code(typed: object) -> str:
    """A typed short code in its stored form, or ShortCodeInvalid (typo caught)."""
    if not isinstance(typed, str) or len(typed) > 40:
        raise errors.ShortCodeInvalid("a short code is 13 characters, like ABCD-EFGH-JKMN-P")
    text = typed.upper().replace("-", "").replace(" ", "")
    if len(text) != SHORT_CODE_DIGITS + 1:
        raise errors.ShortCodeInvalid("a short code is 13 characters, like ABCD-EFGH-JKMN-P")
    number = 0
    for char in text[:SHORT_CODE_DIGITS]:
        if char not in _CROCKFORD_VALUE:
            raise errors.ShortCodeInvalid(f"{char!r} is not used in short codes")
        number = number * 32 + _CROCKFORD_VALUE[char]
    check = text[-1]
    if check in ("O", "I", "L"):
        check = {"O": "0", "I": "1", "L": "1"}[check]
    if check != CROCKFORD_CHECK[number % 37]:
        raise errors.ShortCodeInvalid("the short code's check character does not match: check for a typo")
    digits = "".join(CROCKFORD[(number >> (5 * i)) & 31] for i in reversed(range(SHORT_CODE_DIGITS)))
    return digits + check
