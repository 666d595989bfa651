"""Resource and reservation errors: narrow classes with stable codes, each in a
`ledger.errors` category (which decides the HTTP status), registered so the database can
raise them by code."""
from __future__ import annotations

from functools import partial

from ledger import errors

_define = partial(errors.define, module=__name__)

InvalidResource = _define("InvalidResource", errors.InvalidInput, "invalid_resource")
InvalidSlot = _define("InvalidSlot", errors.InvalidInput, "invalid_slot")
InvalidPattern = _define("InvalidPattern", errors.InvalidInput, "invalid_slot_pattern")
InvalidBooking = _define("InvalidBooking", errors.InvalidInput, "invalid_booking")
ProviderNotServiceProvider = _define("ProviderNotServiceProvider", errors.InvalidInput,
                                     "provider_not_service_provider")
PriorityNeedsMerchant = _define("PriorityNeedsMerchant", errors.InvalidInput, "priority_needs_merchant")

SlotPast = _define("SlotPast", errors.Refused, "slot_past")
SlotFull = _define("SlotFull", errors.Refused, "slot_full")
SlotCancelled = _define("SlotCancelled", errors.Refused, "slot_cancelled")
BookingNotOpen = _define("BookingNotOpen", errors.Refused, "booking_not_open")
PriorityNotOffered = _define("PriorityNotOffered", errors.Refused, "priority_not_offered")
PriorityOtherRealm = _define("PriorityOtherRealm", errors.Refused, "priority_other_realm")
ResourceOutOfScope = _define("ResourceOutOfScope", errors.Refused, "resource_out_of_scope")
CancelCutoffPassed = _define("CancelCutoffPassed", errors.Refused, "cancel_cutoff_passed")
MarkTooEarly = _define("MarkTooEarly", errors.Refused, "mark_too_early")

OtherProvider = _define("OtherProvider", errors.Forbidden, "reservation_of_other_provider")

ProviderNotFound = _define("ProviderNotFound", errors.NotFound, "provider_not_found")
ResourceNotFound = _define("ResourceNotFound", errors.NotFound, "resource_not_found")
SlotNotFound = _define("SlotNotFound", errors.NotFound, "slot_not_found")
ReservationNotFound = _define("ReservationNotFound", errors.NotFound, "reservation_not_found")

AlreadyBooked = _define("AlreadyBooked", errors.Conflict, "already_booked")
ReservationClosed = _define("ReservationClosed", errors.Conflict, "reservation_closed")
ProviderExists = _define("ProviderExists", errors.Conflict, "provider_exists")
SlotExists = _define("SlotExists", errors.Conflict, "slot_exists")
BookingKeyRaced = _define("BookingKeyRaced", errors.Conflict, "booking_idempotency_raced")
CreateKeyRaced = _define("CreateKeyRaced", errors.Conflict, "create_idempotency_raced")

# Raised by the database only (a write that bypassed the service's checks).
ReservationNotBooked = _define("ReservationNotBooked", errors.InvalidInput, "reservation_not_booked")
ReservationMismatch = _define("ReservationMismatch", errors.InvalidInput, "reservation_mismatch")
ReservationImmutable = _define("ReservationImmutable", errors.InvalidInput, "reservation_immutable")
ReservationCloseMismatch = _define("ReservationCloseMismatch", errors.InvalidInput,
                                   "reservation_close_mismatch")
