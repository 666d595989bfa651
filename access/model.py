"""Access's pure core: enrolment codes (short, typo-checked, no symbols), token secrets,
lifetimes and the roles a token may carry. No I/O here."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from access import errors
from ledger import model as ledger_model

ROLES = ("admin", "organizer", "merchant", "auditor", "resident")

# Enrolment codes: 31 symbols (digits 2-9, letters without I, L, O): no symbol to read
# aloud, nothing that looks like another. 31 is prime, so the weighted check character
# catches every single wrong character and every swap of two neighbours.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_BASE = len(CODE_ALPHABET)
SELECTOR_LENGTH = 5            # public part: finds the enrolment (counts its failures)
SECRET_LENGTH = 6              # 31^6 ~ 8.9e8 values; five guesses, then the code locks
CODE_LENGTH = SELECTOR_LENGTH + SECRET_LENGTH + 1
CODE_GROUP = 4                 # shown as XXXX-XXXX-XXXX
CODE_TYPED_LENGTH_MAX = 40     # what a claim may send, spaces and dashes included

ENROLMENT_LIFETIME_S_DEFAULT = 72 * 3600
ENROLMENT_LIFETIME_S_MAX = 30 * 24 * 3600
CLAIM_FAILURES_PER_CODE_MAX = 5          # the fifth failure locks the code
CLAIM_FAILURES_PER_CLIENT_MAX = 20       # per client address within the window
CLAIM_FAILURE_WINDOW_S = 15 * 60
DEVICE_LABEL_LENGTH_MAX = 100
LABEL_LENGTH_MAX = 200

TOKEN_PREFIX = "pb_"
TOKEN_BYTES = 32
TOKEN_LENGTH_MAX = 100
DEVICE_TOKEN_LIFETIME_S_DEFAULT = 180 * 24 * 3600
TOKEN_RENEWAL_STEP_S = 24 * 3600         # a used device token is renewed at most once a day


def check_character(body: str) -> str:
    """The character that makes sum((i + 1) * value) over the whole code 0 mod 31."""
    total = sum((i + 1) * CODE_ALPHABET.index(c) for i, c in enumerate(body))
    weight = len(body) + 1
    inverse = pow(weight, CODE_BASE - 2, CODE_BASE)
    return CODE_ALPHABET[(-total * inverse) % CODE_BASE]


def code_is_consistent(code: str) -> bool:
    if any(c not in CODE_ALPHABET for c in code):
        return False
    return sum((i + 1) * CODE_ALPHABET.index(c) for i, c in enumerate(code)) % CODE_BASE == 0


def new_code() -> str:
    body = "".join(secrets.choice(CODE_ALPHABET) for _ in range(SELECTOR_LENGTH + SECRET_LENGTH))
    return body + check_character(body)


def normalize_code(typed: str) -> str:
    """What a person typed, as the code: case, spaces and dashes do not matter; a typo
    (wrong character, swapped neighbours, wrong length) is refused here, before the
    server counts it as a guess."""
    if not isinstance(typed, str) or len(typed) > CODE_TYPED_LENGTH_MAX:
        raise errors.EnrolmentCodeInvalid("an enrolment code is 12 letters and digits")
    code = "".join(c for c in typed.upper() if c not in " -\t")
    if len(code) != CODE_LENGTH or not code_is_consistent(code):
        raise errors.EnrolmentCodeInvalid("this code is mistyped: check each letter and digit")
    return code


def selector_of(code: str) -> str:
    return code[:SELECTOR_LENGTH]


def formatted(code: str) -> str:
    return "-".join(code[i:i + CODE_GROUP] for i in range(0, len(code), CODE_GROUP))


def code_hash(code: str) -> bytes:
    return hashlib.sha256(b"enrolment:" + code.encode()).digest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class Holder:
    """Who a token or an enrolment is for: a role with its scope."""
    role: str
    realm: str | None
    station_id: int | None = None
    merchant_id: int | None = None
    resident_id: int | None = None


def check_holder(holder: Holder) -> Holder:
    if holder.role not in ROLES:
        raise errors.InvalidRole(f"role is one of {', '.join(ROLES)}")
    if holder.realm is not None:
        ledger_model.check_realm_code(holder.realm)
    if holder.role != "admin" and holder.realm is None:
        raise errors.InvalidEnrolment(f"a {holder.role} needs a realm")
    if holder.role == "merchant" and holder.merchant_id is None:
        raise errors.InvalidEnrolment("a merchant enrolment names its merchant_id")
    if holder.role == "resident" and holder.resident_id is None:
        raise errors.InvalidEnrolment("a resident enrolment names its resident_id")
    return holder


def check_enrolment_holder(holder: Holder) -> Holder:
    """An enrolment is always for one realm; an organizer's for one station."""
    check_holder(holder)
    if holder.realm is None:
        raise errors.InvalidEnrolment("an enrolment names its realm")
    if holder.role == "organizer" and holder.station_id is None:
        raise errors.InvalidEnrolment("an organizer enrolment names its station_id")
    return holder


def check_label(label: str | None, length_max: int = LABEL_LENGTH_MAX) -> str | None:
    if label is None:
        return None
    label = label.strip()
    if len(label) > length_max:
        raise errors.InvalidEnrolment(f"a label is at most {length_max} characters")
    return label or None


def enrolment_expiry(now: datetime, lifetime_s: int | None) -> datetime:
    lifetime = ENROLMENT_LIFETIME_S_DEFAULT if lifetime_s is None else lifetime_s
    if not isinstance(lifetime, int) or not 60 <= lifetime <= ENROLMENT_LIFETIME_S_MAX:
        raise errors.InvalidEnrolment(
            f"an enrolment lasts between 60 and {ENROLMENT_LIFETIME_S_MAX} seconds")
    return now + timedelta(seconds=lifetime)


def needs_renewal(expires_at: datetime | None, now: datetime, lifetime_s: int) -> bool:
    """A device token in use is pushed back to a full lifetime, at most once a day."""
    if expires_at is None:
        return False
    return expires_at < now + timedelta(seconds=lifetime_s - TOKEN_RENEWAL_STEP_S)
