"""The rules of vouchers (pure: no I/O; the clock and keys are passed in).

Offline merchants (issue 4 item 6), the protocol:

1. The merchant's device downloads `GET /.well-known/pointsbank-keys.json` while online
   and keeps it.
2. Offline, it decodes a scanned code (`redemption.codec.decode`), checks the signature
   with the published key of its `kid`, that the key is usable (`key_usable`), that the
   voucher has not expired, and that the voucher is scoped to THIS merchant's id
   (`check_offline`). Only such vouchers may be accepted offline: their points are on
   hold for this one merchant, so nobody else can capture them meanwhile and accepting
   them cannot double-spend. Vouchers scoped to "any" or to a merchant kind need the
   server online.
3. The device keeps a local list of the serials it accepted (and refuses a serial it
   already has), with the amount it took and the time.
4. Back online it uploads the list with `POST /v1/redemptions/batch`
   `{items: [{code, amount?, accepted_at?}]}` and an `Idempotency-Key`; the server
   answers one result per item (captured, or a stable error code). The key of each
   item is derived from the voucher serial, so an item uploaded twice, in one batch or
   in two, is captured once and answers the first result again. The server enforces the
   offline rule: an item whose voucher is not scoped to the uploading merchant is
   refused with `voucher_not_offline`. Expiry is judged at upload, in the realm's time
   zone: upload before the voucher's expiry (the device shows it).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from ledger import errors as ledger_errors
from ledger import idempotency, paging
from ledger.assets import ASSETS
from ledger.keys import PublicKey
from ledger.model import Line
from redemption import codec, errors

STATUSES = ("issued", "redeemed", "partially_redeemed", "cancelled", "expired")
MERCHANT_KINDS = codec.SCOPE_KINDS
AGRI_SHOP = "agri_shop"

VOUCHER_LIFETIME_DAYS_DEFAULT = 30
VOUCHER_LIFETIME_DAYS_MAX = 366
OUTSTANDING_VOUCHERS_DEFAULT = 20     # per resident: shown as the policy; `vouchers_admit` applies it
OUTSTANDING_VOUCHERS_MAX = 1000
VOUCHER_AMOUNT_MAX = 1_000_000        # points on one voucher
BATCH_ITEMS_MAX = 200                 # items in one offline upload
# An organizer who issued a voucher for a resident without a phone may read its code (to
# print the paper voucher) this long after issuing; afterwards only the resident may.
PRINT_WINDOW_S = 15 * 60
# A retired key still verifies until every voucher it can have signed has expired.
KEY_GRACE_S = (VOUCHER_LIFETIME_DAYS_MAX + 1) * 86400


@dataclass(frozen=True)
class Merchant:
    """What redemption needs to know of a merchant (the route passes it in)."""
    id: int
    realm: str
    kind: str
    status: str


@dataclass(frozen=True)
class Policy:
    lifetime_days: int = VOUCHER_LIFETIME_DAYS_DEFAULT
    outstanding_max: int = OUTSTANDING_VOUCHERS_DEFAULT


def check_policy(lifetime_days: int, outstanding_max: int) -> Policy:
    if not 1 <= lifetime_days <= VOUCHER_LIFETIME_DAYS_MAX:
        raise errors.InvalidPolicy(f"lifetime_days is 1 to {VOUCHER_LIFETIME_DAYS_MAX}")
    if not 1 <= outstanding_max <= OUTSTANDING_VOUCHERS_MAX:
        raise errors.InvalidPolicy(f"outstanding_max is 1 to {OUTSTANDING_VOUCHERS_MAX}")
    return Policy(lifetime_days, outstanding_max)


def expiry(issued_at: datetime, lifetime_days: int, tz_name: str) -> datetime:
    """End of the last valid day in the realm's time zone: a voucher issued on day D with
    a lifetime of N days is valid through day D+N, local time."""
    zone = ZoneInfo(tz_name)
    last_day: date = issued_at.astimezone(zone).date() + timedelta(days=lifetime_days)
    end = datetime.combine(last_day + timedelta(days=1), time(0), zone)
    return end.astimezone(timezone.utc)


def within_print_window(issued_at: datetime, now: datetime) -> bool:
    return (now - issued_at).total_seconds() <= PRINT_WINDOW_S


def check_amount(amount: object) -> int:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise errors.VoucherAmountInvalid("an amount is a whole number of points above zero")
    if amount > VOUCHER_AMOUNT_MAX:
        raise errors.VoucherAmountInvalid(f"a voucher holds at most {VOUCHER_AMOUNT_MAX} points")
    return amount


def check_scope(asset: str, merchant: Merchant | None, merchant_kind: str | None) -> None:
    """What a new voucher may be scoped to. `agri` points only at agricultural shops."""
    if asset not in ASSETS:
        raise ledger_errors.InvalidInput(f"unknown asset {asset!r}")
    if merchant is not None and merchant_kind is not None:
        raise errors.VoucherScopeInvalid("scope a voucher to one merchant or to a merchant kind, not both")
    if merchant_kind is not None and merchant_kind not in MERCHANT_KINDS:
        raise errors.VoucherScopeInvalid(f"merchant_kind is one of {', '.join(MERCHANT_KINDS)}")
    if merchant is not None and merchant.status != "active":
        raise errors.MerchantNotActive(f"merchant {merchant.id} is {merchant.status}")
    if asset == "agri":
        kind = merchant.kind if merchant is not None else merchant_kind
        if kind != AGRI_SHOP:
            raise errors.AgriScopeRequired("agri points are spent only at agri_shop merchants: "
                                           "scope the voucher to one, or to merchant_kind agri_shop")


def key_usable(key: PublicKey | None, now: datetime) -> PublicKey:
    if key is None or key.purpose != "voucher":
        raise errors.VoucherKeyUnknown("the voucher names a key this service does not know")
    if key.retired_at is not None and (now - key.retired_at).total_seconds() > KEY_GRACE_S:
        raise errors.VoucherKeyRetired("the voucher's key was retired and all it signed has expired")
    return key


def verify(token: codec.Token, key: PublicKey | None, now: datetime) -> codec.Token:
    """A decoded token whose key and signature hold, or a VoucherCodeError."""
    usable = key_usable(key, now)
    if not usable.verify(token.body(), token.signature):
        raise errors.VoucherSignatureInvalid("the voucher's signature does not verify: it was altered or forged")
    return token


def check_not_expired(token: codec.Token, now: datetime) -> None:
    if now.timestamp() >= token.expires_at:
        raise errors.VoucherExpired("the voucher has expired",
                                    expired_at=datetime.fromtimestamp(token.expires_at, timezone.utc).isoformat())


def check_redeemable(token: codec.Token, merchant: Merchant, amount: int | None, now: datetime) -> int:
    """The amount to capture, after every check that needs no database."""
    if merchant.status != "active":
        raise errors.MerchantNotActive(f"merchant {merchant.id} is {merchant.status} and cannot redeem")
    check_not_expired(token, now)
    if token.scope_merchant_id is not None and token.scope_merchant_id != merchant.id:
        raise errors.VoucherScopeMismatch("this voucher is for another merchant")
    if token.scope_merchant_kind is not None and token.scope_merchant_kind != merchant.kind:
        raise errors.VoucherKindMismatch(f"this voucher is for {token.scope_merchant_kind} merchants")
    if token.asset == "agri" and merchant.kind != AGRI_SHOP:
        raise errors.VoucherKindMismatch("agri points are spent only at agri_shop merchants")
    if amount is None:
        return token.amount
    check_amount(amount)
    if amount > token.amount:
        raise errors.VoucherAmountExceeded(f"the voucher holds {token.amount} points", voucher_amount=token.amount)
    return amount


def check_offline(token: codec.Token, merchant: Merchant) -> None:
    if token.scope_merchant_id != merchant.id:
        raise errors.OfflineNotAllowed("only vouchers scoped to this one merchant may be accepted offline")


# capture ------------------------------------------------------------------------------
# The same rules run in SQL in `voucher_capture` (the group-committed capture); these run
# the captures that are not group-committed (one transaction each, and every capture by a
# merchant of another realm) and `preview`. `redemption/reference.py` puts them together
# as the model that tests/integration/test_rule_differential.py holds both paths to.

def capture_status(amount: int, captured: int) -> str:
    """A voucher's status once `captured` of its `amount` is taken."""
    return "redeemed" if captured == amount else "partially_redeemed"


def capture_lines(voucher: Mapping[str, Any], receiver: int, captured: int) -> tuple[Line, ...]:
    """The capture entry's postings: the whole hold leaves the hold account, `captured` goes
    to `receiver` (the merchant, or the clearing account for its realm) and the rest of a
    partial capture back to the resident at once."""
    lines = [Line(voucher["hold_account_id"], -voucher["amount"]), Line(receiver, captured)]
    rest = voucher["amount"] - captured
    if rest:
        lines.append(Line(voucher["resident_account_id"], rest))
    return tuple(lines)


def refusal_for(voucher: Mapping[str, Any] | None) -> ledger_errors.DomainError:
    """Why a voucher could not leave `issued`."""
    if voucher is None:
        return errors.VoucherNotFound("no such voucher: it was never issued here")
    status = voucher["status"]
    if status in ("redeemed", "partially_redeemed"):
        return errors.VoucherAlreadyRedeemed("this voucher has already been redeemed", voucher_id=voucher["id"])
    if status == "cancelled":
        return errors.VoucherCancelled("this voucher was cancelled", voucher_id=voucher["id"])
    return errors.VoucherExpired("the voucher has expired", voucher_id=voucher["id"])


def request_hash(**fields: object) -> bytes:
    return idempotency.request_hash(fields)


def reference(serial: bytes) -> str:
    """The ledger entries' reference for a voucher (settlement lists lines from it)."""
    return f"voucher:{serial.hex()}"


CURSOR = paging.Cursor("v1")
encode_cursor, decode_cursor = CURSOR.encode, CURSOR.decode
