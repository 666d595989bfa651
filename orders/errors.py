"""The service loop's domain errors: each subclasses a ledger category (which gives the
HTTP status) and carries a stable code. Codes the database raises are registered by code."""
from __future__ import annotations

from functools import partial

from ledger import db, errors

_define = partial(errors.define, module=__name__)

InvalidServiceRequest = _define("InvalidServiceRequest", errors.InvalidInput, "invalid_service_request")
UnknownSkill = _define("UnknownSkill", errors.InvalidInput, "unknown_skill")
InvalidVolunteer = _define("InvalidVolunteer", errors.InvalidInput, "invalid_volunteer")
InvalidServiceSettings = _define("InvalidServiceSettings", errors.InvalidInput, "invalid_service_settings")
WindowInvalid = _define("WindowInvalid", errors.InvalidInput, "window_invalid")
MinutesRequired = _define("MinutesRequired", errors.InvalidInput, "minutes_required")
MinutesBeyondWindow = _define("MinutesBeyondWindow", errors.InvalidInput, "minutes_beyond_window")
RatingOutOfRange = _define("RatingOutOfRange", errors.InvalidInput, "rating_out_of_range")
VolunteerOtherRealm = _define("VolunteerOtherRealm", errors.InvalidInput, "volunteer_other_realm")
VolunteerNotApproved = _define("VolunteerNotApproved", errors.Refused, "volunteer_not_approved")
VolunteerIsRequester = _define("VolunteerIsRequester", errors.Refused, "volunteer_is_requester")
VolunteerExists = _define("VolunteerExists", errors.Conflict, "volunteer_exists")
VolunteerNotFound = _define("VolunteerNotFound", errors.NotFound, "volunteer_not_found")
ServiceRequestNotFound = _define("ServiceRequestNotFound", errors.NotFound, "service_request_not_found")
NotDispatchedToYou = _define("NotDispatchedToYou", errors.Forbidden, "not_dispatched_to_you")
RequestNotOpen = _define("RequestNotOpen", errors.Conflict, "request_not_open")
RequestNotDispatched = _define("RequestNotDispatched", errors.Conflict, "request_not_dispatched")
RequestNotAccepted = _define("RequestNotAccepted", errors.Conflict, "request_not_accepted")
RequestNotDone = _define("RequestNotDone", errors.Conflict, "request_not_done")
RequestAlreadyConfirmed = _define("RequestAlreadyConfirmed", errors.Conflict, "request_already_confirmed")
RequestCannotCancel = _define("RequestCannotCancel", errors.Conflict, "request_cannot_cancel")
# raised by the database (orders/sql) for writes that bypassed the service's checks
TransitionNotAllowed = _define("TransitionNotAllowed", errors.Conflict, "transition_not_allowed")
ServiceRequestClosed = _define("ServiceRequestClosed", errors.Conflict, "service_request_closed")
ServiceRequestImmutable = _define("ServiceRequestImmutable", errors.InvalidInput, "service_request_immutable")
ServiceAwardMismatch = _define("ServiceAwardMismatch", errors.InvalidInput, "service_award_mismatch")
ServiceAwardExists = _define("ServiceAwardExists", errors.Conflict, "service_award_exists")

db.CONSTRAINT_ERRORS.update({
    "service_awards_pkey": ServiceAwardExists,
    "service_requests_not_own": VolunteerIsRequester,
})
