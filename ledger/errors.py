"""Domain errors. Each has a stable `code`; its category decides the HTTP status, in one
place (`api.errors`). The database raises the same codes (`pb_raise`), and
`error_from_code` turns them back into these classes."""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, detail: str = "", **context: Any) -> None:
        super().__init__(detail or self.code)
        self.detail = detail or self.code.replace("_", " ")
        self.context = context


class BadRequest(DomainError):
    """The request itself is malformed or empty, before any rule is consulted."""
    code = "bad_request"


class InvalidInput(DomainError):
    """The request is well-formed but asks for something the rules do not allow."""
    code = "invalid_input"


class Refused(DomainError):
    """A valid request the current state cannot honour (not enough points, ...)."""
    code = "refused"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    """The request collides with something already done."""
    code = "conflict"


class Forbidden(DomainError):
    code = "forbidden"


class Unauthorized(DomainError):
    code = "unauthorized"


class Unavailable(DomainError):
    code = "service_unavailable"


class Throttled(DomainError):
    """This caller sent more than its share; it may retry after `retry_after_s`."""
    code = "throttled"


_BY_CODE: dict[str, type[DomainError]] = {}


def define(name: str, base: type[DomainError], code: str, module: str = __name__) -> type[DomainError]:
    """A narrow error class with a stable code, in `base`'s category, raisable by code from
    the database (`pb_raise`). Other packages pass their own `module`."""
    cls = type(name, (base,), {"code": code, "__module__": module})
    _BY_CODE[code] = cls
    return cls



InsufficientPoints = define("InsufficientPoints", Refused, "insufficient_points")
BudgetExhausted = define("BudgetExhausted", Refused, "budget_exhausted")
UnknownAccount = define("UnknownAccount", InvalidInput, "unknown_account")
AssetMismatch = define("AssetMismatch", InvalidInput, "asset_mismatch")
RealmMismatch = define("RealmMismatch", InvalidInput, "realm_mismatch")
EntryUnbalanced = define("EntryUnbalanced", InvalidInput, "entry_unbalanced")
TooFewPostings = define("TooFewPostings", InvalidInput, "entry_too_few_postings")
TooManyPostings = define("TooManyPostings", InvalidInput, "entry_too_many_postings")
DuplicateAccount = define("DuplicateAccount", InvalidInput, "entry_duplicate_account")
ZeroAmount = define("ZeroAmount", InvalidInput, "amount_zero")
AmountOutOfRange = define("AmountOutOfRange", InvalidInput, "amount_out_of_range")
PostingNotAllowed = define("PostingNotAllowed", InvalidInput, "posting_not_allowed")
EntryKindNotAllowed = define("EntryKindNotAllowed", InvalidInput, "entry_kind_not_allowed")
EntryNotReversible = define("EntryNotReversible", InvalidInput, "entry_not_reversible")
InvalidFloor = define("InvalidFloor", InvalidInput, "invalid_floor")
InvalidRealm = define("InvalidRealm", InvalidInput, "invalid_realm")
UnknownRealm = define("UnknownRealm", InvalidInput, "unknown_realm")
InvalidCursor = define("InvalidCursor", InvalidInput, "invalid_cursor")
InvalidTimestamp = define("InvalidTimestamp", InvalidInput, "invalid_timestamp")
InvalidIdempotencyKey = define("InvalidIdempotencyKey", InvalidInput, "invalid_idempotency_key")
IdempotencyKeyRequired = define("IdempotencyKeyRequired", InvalidInput, "idempotency_key_required")
IdempotencyKeyReused = define("IdempotencyKeyReused", Conflict, "idempotency_key_reused")
EntryAlreadyReversed = define("EntryAlreadyReversed", Conflict, "entry_already_reversed")
AccountExists = define("AccountExists", Conflict, "account_exists")
RealmExists = define("RealmExists", Conflict, "realm_exists")
AccountNotFound = define("AccountNotFound", NotFound, "account_not_found")
EntryNotFound = define("EntryNotFound", NotFound, "entry_not_found")
RealmNotFound = define("RealmNotFound", NotFound, "realm_not_found")
# load shedding: answered at once with Retry-After instead of a client timing out
Overloaded = define("Overloaded", Unavailable, "overloaded")
RateLimited = define("RateLimited", Throttled, "rate_limited")
# audit: checkpoints and proofs
CheckpointNotFound = define("CheckpointNotFound", NotFound, "checkpoint_not_found")
EntryNotSealed = define("EntryNotSealed", NotFound, "entry_not_sealed")
InvalidProofRequest = define("InvalidProofRequest", InvalidInput, "invalid_proof_request")
CheckpointChainBroken = define("CheckpointChainBroken", InvalidInput, "checkpoint_chain_broken")
CheckpointLeavesMismatch = define("CheckpointLeavesMismatch", InvalidInput, "checkpoint_leaves_mismatch")
# the key registry: a process seals only with its realm's registered current ledger key
SealingKeyNotCurrent = define("SealingKeyNotCurrent", Conflict, "sealing_key_not_current")
SigningKeyCurrentExists = define("SigningKeyCurrentExists", Conflict, "signing_key_current_exists")
SigningKeyRegistered = define("SigningKeyRegistered", Conflict, "signing_key_registered")
InvalidPublicKey = define("InvalidPublicKey", InvalidInput, "invalid_public_key")

# A writer posted with a running balance or history place that is not the account's
# next one: a defect in the writer (or a race it lost without the lock), never bad input.
PostingChainBroken = define("PostingChainBroken", Conflict, "posting_chain_broken")

# Codes the database raises for writes that bypassed the service's own checks.
for _code in ("append_only", "account_immutable", "balance_is_derived", "entry_closed",
              "unknown_entry", "reversal_not_mirror", "posting_time_mismatch"):
    define("".join(part.title() for part in _code.split("_")), InvalidInput, _code)


def error_from_code(code: str, context: dict[str, Any] | None = None) -> DomainError:
    """The domain error for a code raised by the database (`pb_raise`)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return DomainError(f"unexpected database error: {code}", **(context or {}))
    return cls(**(context or {}))


def registered() -> dict[str, type[DomainError]]:
    """Every domain error by its code (for documentation and tests)."""
    return dict(_BY_CODE)
