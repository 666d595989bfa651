"""Voucher and redemption errors: narrow classes with stable codes, each in a
`ledger.errors` category (which decides the HTTP status) and registered so the database
can raise them by code."""
from __future__ import annotations

from functools import partial

from ledger import errors

_define = partial(errors.define, module=__name__)


class VoucherCodeError(errors.InvalidInput):
    """Any reason a voucher code text is refused before the database is asked."""
    code = "voucher_code_invalid"


VoucherCodeMalformed = _define("VoucherCodeMalformed", VoucherCodeError, "voucher_code_malformed")
VoucherPrefixInvalid = _define("VoucherPrefixInvalid", VoucherCodeError, "voucher_prefix_invalid")
VoucherVersionUnknown = _define("VoucherVersionUnknown", VoucherCodeError, "voucher_version_unknown")
VoucherKeyUnknown = _define("VoucherKeyUnknown", VoucherCodeError, "voucher_key_unknown")
VoucherKeyRetired = _define("VoucherKeyRetired", VoucherCodeError, "voucher_key_retired")
VoucherSignatureInvalid = _define("VoucherSignatureInvalid", VoucherCodeError, "voucher_signature_invalid")
# Genuinely signed, but not what was issued under its serial (amount or asset differ).
VoucherCodeMismatch = _define("VoucherCodeMismatch", VoucherCodeError, "voucher_code_mismatch")
ShortCodeInvalid = _define("ShortCodeInvalid", VoucherCodeError, "short_code_invalid")

VoucherExpired = _define("VoucherExpired", errors.Refused, "voucher_expired")
VoucherScopeMismatch = _define("VoucherScopeMismatch", errors.Refused, "voucher_wrong_merchant")
VoucherKindMismatch = _define("VoucherKindMismatch", errors.Refused, "voucher_wrong_merchant_kind")
VoucherAmountExceeded = _define("VoucherAmountExceeded", errors.Refused, "voucher_amount_exceeded")
VoucherAmountInvalid = _define("VoucherAmountInvalid", errors.InvalidInput, "voucher_amount_invalid")
VoucherLimitReached = _define("VoucherLimitReached", errors.Refused, "voucher_limit_reached")
AgriScopeRequired = _define("AgriScopeRequired", errors.InvalidInput, "agri_needs_agri_shop")
VoucherScopeInvalid = _define("VoucherScopeInvalid", errors.InvalidInput, "voucher_scope_invalid")
MerchantNotActive = _define("MerchantNotActive", errors.Refused, "merchant_not_active")
OfflineNotAllowed = _define("OfflineNotAllowed", errors.Refused, "voucher_not_offline")
BatchTooLarge = _define("BatchTooLarge", errors.InvalidInput, "batch_too_large")
InvalidPolicy = _define("InvalidPolicy", errors.InvalidInput, "invalid_voucher_policy")

VoucherCodeWithheld = _define("VoucherCodeWithheld", errors.Forbidden, "voucher_code_withheld")
VoucherNotFound = _define("VoucherNotFound", errors.NotFound, "voucher_not_found")
VoucherAlreadyRedeemed = _define("VoucherAlreadyRedeemed", errors.Conflict, "voucher_already_redeemed")
VoucherCancelled = _define("VoucherCancelled", errors.Conflict, "voucher_cancelled")
VoucherClosed = _define("VoucherClosed", errors.Conflict, "voucher_closed")
VoucherKeyRaced = _define("VoucherKeyRaced", errors.Conflict, "voucher_idempotency_raced")

# Raised by the database only (a write that bypassed the service's checks).
VoucherImmutable = _define("VoucherImmutable", errors.InvalidInput, "voucher_immutable")
VoucherNotExpired = _define("VoucherNotExpired", errors.InvalidInput, "voucher_not_expired")
VoucherNotIssued = _define("VoucherNotIssued", errors.InvalidInput, "voucher_not_issued")
HoldMismatch = _define("HoldMismatch", errors.InvalidInput, "hold_mismatch")
