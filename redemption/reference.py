"""REFERENCE MODEL ONLY: used by tests, never by production code.

A capture runs in SQL (`voucher_capture`, the group-committed path) and, for captures
that are not group-committed and for every merchant of another realm, in
`redemption/service.py` through the pure pieces of `redemption/model.py`
(`capture_status`, `capture_lines`, `refusal_for`). This module puts those pieces
together into the whole answer a capture must give for a voucher row as it stands, so
that tests/integration/test_rule_differential.py can compare the SQL, and the Python
path, with it:

1. No row: `voucher_not_found`. A row no longer `issued`, or past its expiry: the
   refusal its status gives (`voucher_already_redeemed`, `voucher_cancelled`,
   `voucher_expired`).
2. A row whose amount or asset differ from the signed code's: `voucher_code_mismatch`.
3. Otherwise the voucher is `redeemed` (all of it taken) or `partially_redeemed`, with
   `captured_amount` = what was taken, and one `capture` entry: the whole amount leaves
   the hold account, the captured part goes to the receiver, the rest back to the
   resident at once (nothing stays on hold).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redemption import errors, model


@dataclass(frozen=True)
class Capture:
    """What a capture answers: a refusal `code`, or the voucher's new state and postings."""
    code: str | None = None
    status: str | None = None
    captured_amount: int | None = None
    postings: frozenset[tuple[int, int]] = frozenset()   # (account_id, amount)


def capture(voucher: Mapping[str, Any] | None, claimed_amount: int, claimed_asset: str,
            captured: int, receiver: int, now: datetime) -> Capture:
    """The capture of `captured` points of the voucher `row` for `receiver`, when the code
    the merchant showed claims `claimed_amount` of `claimed_asset`."""
    if voucher is None or voucher["status"] != "issued" or voucher["expires_at"] <= now:
        return Capture(code=model.refusal_for(voucher).code)
    if (voucher["amount"], voucher["asset"]) != (claimed_amount, claimed_asset):
        return Capture(code=errors.VoucherCodeMismatch.code)
    lines = model.capture_lines(voucher, receiver, captured)
    return Capture(status=model.capture_status(voucher["amount"], captured), captured_amount=captured,
                   postings=frozenset((line.account_id, line.amount) for line in lines))
