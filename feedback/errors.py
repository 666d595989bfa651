"""Feedback's domain errors (ratings, alerts), each with a stable code."""
from __future__ import annotations

from functools import partial

from ledger import db, errors

_define = partial(errors.define, module=__name__)

# the same code as orders' (a rating given when confirming a request): packages never import each other
RatingOutOfRange = _define("RatingOutOfRange", errors.InvalidInput, "rating_out_of_range")
InvalidComment = _define("InvalidComment", errors.InvalidInput, "invalid_comment")
InvalidAverageQuery = _define("InvalidAverageQuery", errors.InvalidInput, "invalid_average_query")
ActivityNotAttended = _define("ActivityNotAttended", errors.Refused, "activity_not_attended")
RatingNotAllowed = _define("RatingNotAllowed", errors.Refused, "rating_not_allowed")
AlreadyRated = _define("AlreadyRated", errors.Conflict, "already_rated")
AlertNotFound = _define("AlertNotFound", errors.NotFound, "alert_not_found")

db.CONSTRAINT_ERRORS.update({"ratings_once": AlreadyRated})
