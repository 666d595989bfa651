"""Access's domain errors, each in a ledger category (which gives the HTTP status) with a
stable code; the database raises the same codes."""
from __future__ import annotations

from functools import partial

from ledger import errors

_define = partial(errors.define, module=__name__)

InvalidRole = _define("InvalidRole", errors.InvalidInput, "invalid_role")
InvalidEnrolment = _define("InvalidEnrolment", errors.InvalidInput, "invalid_enrolment")
UnknownHolder = _define("UnknownHolder", errors.InvalidInput, "unknown_holder")
EnrolmentCodeInvalid = _define("EnrolmentCodeInvalid", errors.InvalidInput, "enrolment_code_invalid")
EnrolmentNotFound = _define("EnrolmentNotFound", errors.NotFound, "enrolment_not_found")
EnrolmentClaimed = _define("EnrolmentClaimed", errors.Conflict, "enrolment_claimed")
EnrolmentExpired = _define("EnrolmentExpired", errors.Refused, "enrolment_expired")
EnrolmentLocked = _define("EnrolmentLocked", errors.Refused, "enrolment_locked")
TooManyAttempts = _define("TooManyAttempts", errors.Refused, "too_many_attempts")
TokenNotFound = _define("TokenNotFound", errors.NotFound, "token_not_found")
TokenRevoked = _define("TokenRevoked", errors.Unauthorized, "token_revoked")
TokenExpired = _define("TokenExpired", errors.Unauthorized, "token_expired")
TokenUnknown = _define("TokenUnknown", errors.Unauthorized, "unauthorized")
