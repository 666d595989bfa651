"""The pages' words: every key the templates and scripts use exists in both languages,
and every refusal a resident or merchant can meet has its own short message."""
from __future__ import annotations

import re
from pathlib import Path

import earning.errors  # noqa: F401  (registers its codes)
import merchants.errors  # noqa: F401
import redemption.errors  # noqa: F401
import resources.errors  # noqa: F401
from api import pages
from ledger import errors

TEMPLATE_KEY = re.compile(r'(?:data-i18n="|t\(")([a-z_.]+)"')
SCRIPT_KEY = re.compile(r'PB\.t\("([a-z_.]+)"\)')
SCRIPT_PREFIXED_KEY = re.compile(r'PB\.t\("([a-z_]+\.)" \+')
# The values a script appends to a prefix (asset., kind., status.) come from the API.
PREFIX_VALUES = {
    "asset.": ("civic", "agri"),
    "kind.": ("fund", "earn", "hold", "capture", "clear", "release", "settle", "adjustment", "reversal"),
    "status.": ("issued", "redeemed", "partially_redeemed", "cancelled", "expired"),
    "history.": ("earned", "voucher_made", "spent", "cancelled", "expired", "corrected", "other",
                 "reservation_held", "reservation_paid", "reservation_returned"),
    "account.": ("resident", "budget", "hold", "merchant", "settled", "clearing", "funding"),
    "settlement.": ("open", "paid"),
    "role.": ("auditor", "admin"),
    "page.": ("home", "resident", "merchant", "audit"),
}


def used_keys() -> set[str]:
    keys: set[str] = set()
    for template in (Path(pages.__file__).parent / "templates").glob("*.html"):
        for key in TEMPLATE_KEY.findall(template.read_text(encoding="utf-8")):
            keys |= {key + value for value in PREFIX_VALUES[key]} if key.endswith(".") else {key}
    for script in pages.STATIC_DIR.glob("*.js"):
        source = script.read_text(encoding="utf-8")
        keys |= set(SCRIPT_KEY.findall(source))
        for prefix in SCRIPT_PREFIXED_KEY.findall(source):
            keys |= {prefix + value for value in PREFIX_VALUES[prefix]}
    return keys


def test_both_languages_have_the_same_keys():
    messages = pages.messages()
    assert set(messages) == {"zh", "en"}
    assert set(messages["zh"]) == set(messages["en"])
    assert all(text.strip() for language in messages.values() for text in language.values())


def test_every_key_the_pages_use_is_in_the_dictionary():
    keys = used_keys()
    assert len(keys) > 50
    missing = sorted(keys - set(pages.messages()["zh"]))
    assert not missing, missing


def test_every_voucher_and_points_refusal_has_its_own_message():
    redemption_codes = {code for code, cls in errors.registered().items()
                        if cls.__module__ == "redemption.errors" and not issubclass(cls, errors.InvalidInput)}
    expected = redemption_codes | {
        "insufficient_points", "short_code_invalid", "voucher_signature_invalid", "merchant_not_found",
        "unauthorized", "forbidden", "idempotency_key_reused"}
    missing = sorted(code for code in expected if f"error.{code}" not in pages.messages()["zh"])
    assert not missing, missing


def test_every_reservation_refusal_has_its_own_message():
    codes = {code for code, cls in errors.registered().items() if cls.__module__ == "resources.errors"
             and not code.startswith(("reservation_not_booked", "reservation_mismatch", "reservation_immutable",
                                      "reservation_close_mismatch"))}
    missing = sorted(code for code in codes if f"error.{code}" not in pages.messages()["zh"])
    assert not missing, missing
