"""The merchant registry's rules (pure): kinds, statuses, limits, which account each kind
opens, which status changes are allowed, and the page cursor."""
from __future__ import annotations

import base64

from ledger import errors as ledger_errors
from merchants import errors

KINDS = ("general", "agri_shop", "service_provider")
STATUSES = ("active", "suspended", "closed")
# What a merchant of each kind may receive: civic everywhere, agri only at agri shops.
ASSETS_BY_KIND = {"general": ("civic",), "agri_shop": ("civic", "agri"),
                  "service_provider": ("civic",)}
# Allowed status changes; closed is final (its points stay until settled).
TRANSITIONS = {("active", "suspended"), ("suspended", "active"),
               ("active", "closed"), ("suspended", "closed")}

NAME_LENGTH_MAX = 200
CONTACT_LENGTH_MAX = 200
PAGE_SIZE_DEFAULT = 50
PAGE_SIZE_MAX = 200


def check_new(kind: str, name: str, contact: str | None) -> None:
    if kind not in KINDS:
        raise errors.InvalidMerchantKind(f"kind is one of {', '.join(KINDS)}", kind=kind)
    if not 1 <= len(name.strip()) <= NAME_LENGTH_MAX:
        raise errors.InvalidMerchant(f"a merchant's name is 1 to {NAME_LENGTH_MAX} characters")
    if contact is not None and len(contact) > CONTACT_LENGTH_MAX:
        raise errors.InvalidMerchant(f"contact is at most {CONTACT_LENGTH_MAX} characters")


def check_transition(current: str, wanted: str) -> None:
    if wanted not in STATUSES:
        raise errors.InvalidMerchantStatus(f"status is one of {', '.join(STATUSES)}", status=wanted)
    if current == "closed":
        raise errors.MerchantClosed("a closed merchant stays closed")
    if current != wanted and (current, wanted) not in TRANSITIONS:
        raise errors.InvalidMerchantStatus(f"cannot go from {current} to {wanted}")


def check_page_size(limit: int | None) -> int:
    if limit is None:
        return PAGE_SIZE_DEFAULT
    if not 1 <= limit <= PAGE_SIZE_MAX:
        raise ledger_errors.InvalidInput(f"limit is between 1 and {PAGE_SIZE_MAX}")
    return limit


def encode_cursor(after_id: int) -> str:
    return base64.urlsafe_b64encode(f"m1:{after_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = raw.partition(":")
        after_id = int(number)
    except (ValueError, UnicodeDecodeError):
        raise ledger_errors.InvalidCursor("the cursor is not one this service gave out") from None
    if prefix != "m1" or after_id < 0:
        raise ledger_errors.InvalidCursor("the cursor is not one this service gave out")
    return after_id
