"""The ledger's pure core: kinds, limits, drafts and the rules an entry must obey.

No I/O here. The database enforces the same rules (ledger/sql/, the 0001 revision);
the service checks them first so that a bad request is refused before any write.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ledger import errors, idempotency
from ledger.assets import ASSETS  # noqa: F401  (re-exported: model.ASSETS)

ACCOUNT_KINDS = ("resident", "budget", "hold", "merchant", "settled", "clearing", "funding")
SYSTEM_ACCOUNT_KINDS = ("funding", "budget", "hold", "settled")  # one per realm and asset
UNBOUNDED_KINDS = ("funding", "clearing")  # the only kinds that may go below zero
ENTRY_KINDS = ("fund", "earn", "hold", "capture", "clear", "release", "settle",
               "adjustment", "reversal")
REVERSIBLE_KINDS = ("fund", "earn", "adjustment")
MANUAL_KINDS = ("fund", "adjustment")  # what an admin may post by hand

DEBIT, CREDIT = -1, 1
EXEMPT_KINDS = ("reversal",)  # checked as the exact mirror of the entry it reverses instead
# Which account kinds an entry kind may debit or credit. The same rows are the
# `entry_rules` table, which the posting trigger (`postings_apply`) consults on every
# posting; the service checks them first. tests/integration/test_rule_differential.py
# proves the two sets equal and that the trigger allows exactly what `posting_allowed` does.
ENTRY_RULES: frozenset[tuple[str, str, int]] = frozenset({
    ("fund", "funding", DEBIT), ("fund", "budget", CREDIT),
    ("earn", "budget", DEBIT), ("earn", "resident", CREDIT),
    ("hold", "resident", DEBIT), ("hold", "hold", CREDIT),
    ("capture", "hold", DEBIT), ("capture", "merchant", CREDIT),
    ("capture", "resident", CREDIT), ("capture", "clearing", CREDIT),
    ("clear", "clearing", DEBIT), ("clear", "merchant", CREDIT),
    ("release", "hold", DEBIT), ("release", "resident", CREDIT),
    ("settle", "merchant", DEBIT), ("settle", "settled", CREDIT),
    *((("adjustment", kind, direction) for kind in ("budget", "resident", "merchant")
       for direction in (DEBIT, CREDIT))),
})

# Named limits.
POSTINGS_PER_ENTRY_MAX = 64
AMOUNT_ABS_MAX = 10**12            # points in one posting
IDEMPOTENCY_KEY_LENGTH_MAX = idempotency.KEY_LENGTH_MAX
MEMO_LENGTH_MAX = 500
REFERENCE_LENGTH_MAX = 200
LABEL_LENGTH_MAX = 200
REALM_NAME_LENGTH_MAX = 200
DEFAULT_TIMEZONE = "Asia/Shanghai"

_REALM_CODE = re.compile(r"^[0-9]{6}$")


@dataclass(frozen=True)
class AccountMeta:
    """What never changes about an account: enough to check an entry's shape."""
    realm: str
    id: int
    kind: str
    asset: str
    floor: int | None


@dataclass(frozen=True)
class Line:
    """One posting of a draft: a signed amount on an account (credit +, debit -)."""
    account_id: int
    amount: int


@dataclass(frozen=True)
class EntryDraft:
    realm: str
    kind: str
    lines: tuple[Line, ...]
    created_by: str
    idempotency_key: str | None = None
    reference: str | None = None
    memo: str | None = None
    reverses_entry_id: int | None = None
    request_hash: bytes | None = field(default=None, compare=False)

    def account_ids(self) -> list[int]:
        return sorted(line.account_id for line in self.lines)


def check_realm_code(code: str) -> str:
    if not isinstance(code, str) or not _REALM_CODE.match(code):
        raise errors.InvalidRealm("a realm is a 6-digit administrative code", realm=code)
    return code




def check_amount(amount: int) -> int:
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise errors.AmountOutOfRange("amounts are whole points")
    if amount == 0:
        raise errors.ZeroAmount("a posting cannot be zero")
    if abs(amount) > AMOUNT_ABS_MAX:
        raise errors.AmountOutOfRange(f"a posting is at most {AMOUNT_ABS_MAX} points",
                                      amount=amount)
    return amount


def check_floor(kind: str, floor: int | None) -> int | None:
    """The floor an account of `kind` may have: 0, or for funding and clearing any
    non-positive number or none at all."""
    if kind in UNBOUNDED_KINDS:
        if floor is not None and floor > 0:
            raise errors.InvalidFloor(f"a {kind} account's floor is zero or below")
        return floor
    if floor not in (None, 0):
        raise errors.InvalidFloor(f"a {kind} account's floor is 0")
    return 0


def check_owner(kind: str, realm: str, resident_id: int | None, merchant_id: int | None,
                counterpart_realm: str | None) -> None:
    """Resident and merchant accounts belong to one; a clearing account faces another realm."""
    if (resident_id is not None) != (kind == "resident"):
        raise errors.InvalidInput("a resident account, and only one, names its resident")
    if (merchant_id is not None) != (kind == "merchant"):
        raise errors.InvalidInput("a merchant account, and only one, names its merchant")
    if (counterpart_realm is not None) != (kind == "clearing"):
        raise errors.InvalidInput("a clearing account, and only one, names its counterpart realm")
    if counterpart_realm is not None:
        check_realm_code(counterpart_realm)
        if counterpart_realm == realm:
            raise errors.InvalidInput("a clearing account faces another realm")


def check_shape(draft: EntryDraft) -> None:
    """What can be checked without knowing the accounts."""
    if draft.kind not in ENTRY_KINDS:
        raise errors.EntryKindNotAllowed(f"unknown entry kind {draft.kind!r}")
    if len(draft.lines) < 2:
        raise errors.TooFewPostings("an entry has at least two postings")
    if len(draft.lines) > POSTINGS_PER_ENTRY_MAX:
        raise errors.TooManyPostings(f"an entry has at most {POSTINGS_PER_ENTRY_MAX} postings")
    for line in draft.lines:
        check_amount(line.amount)
    if len({line.account_id for line in draft.lines}) != len(draft.lines):
        raise errors.DuplicateAccount("each account appears once in an entry")
    if sum(line.amount for line in draft.lines) != 0:
        raise errors.EntryUnbalanced("the postings of an entry sum to zero")
    idempotency.check_key(draft.idempotency_key)
    if draft.memo is not None and len(draft.memo) > MEMO_LENGTH_MAX:
        raise errors.InvalidInput(f"memo is at most {MEMO_LENGTH_MAX} characters")
    if draft.reference is not None and len(draft.reference) > REFERENCE_LENGTH_MAX:
        raise errors.InvalidInput(f"reference is at most {REFERENCE_LENGTH_MAX} characters")


def posting_allowed(entry_kind: str, account_kind: str, direction: int) -> bool:
    """May an entry of `entry_kind` debit (-1) or credit (+1) an account of `account_kind`?"""
    return entry_kind in EXEMPT_KINDS or (entry_kind, account_kind, direction) in ENTRY_RULES


def check_against_accounts(draft: EntryDraft, accounts: Mapping[int, AccountMeta]) -> None:
    """Per-asset balance, one realm, and which kinds the entry may touch."""
    sums: dict[str, int] = {}
    for line in draft.lines:
        account = accounts.get(line.account_id)
        if account is None or account.realm != draft.realm:
            raise errors.UnknownAccount(f"no account {line.account_id} in realm {draft.realm}",
                                        account_id=line.account_id)
        sums[account.asset] = sums.get(account.asset, 0) + line.amount
        direction = CREDIT if line.amount > 0 else DEBIT
        if not posting_allowed(draft.kind, account.kind, direction):
            raise errors.PostingNotAllowed(
                f"a {draft.kind} entry cannot {'credit' if direction > 0 else 'debit'} "
                f"a {account.kind} account", account_id=account.id)
    if any(total != 0 for total in sums.values()):
        raise errors.EntryUnbalanced("the postings of an entry sum to zero for each asset")


def check_draft(draft: EntryDraft, accounts: Mapping[int, AccountMeta]) -> None:
    check_shape(draft)
    check_against_accounts(draft, accounts)


def mirror_lines(lines: tuple[Line, ...] | list[Line]) -> tuple[Line, ...]:
    """The postings that undo an entry."""
    return tuple(Line(line.account_id, -line.amount) for line in lines)


def request_hash(draft: EntryDraft) -> bytes:
    """Fingerprint of what an idempotent request asked for (not who or when)."""
    return idempotency.request_hash({
        "realm": draft.realm, "kind": draft.kind,
        "lines": sorted((line.account_id, line.amount) for line in draft.lines),
        "reference": draft.reference, "memo": draft.memo,
        "reverses": draft.reverses_entry_id,
    })
