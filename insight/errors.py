"""Insight's domain errors: each subclasses a ledger category (which gives the HTTP status)
and carries a stable code."""
from __future__ import annotations

from functools import partial

from ledger import errors

_define = partial(errors.define, module=__name__)

InvalidIndicatorLevel = _define("InvalidIndicatorLevel", errors.InvalidInput, "invalid_indicator_level")
InvalidMonth = _define("InvalidMonth", errors.InvalidInput, "invalid_month")
MonthRangeTooLong = _define("MonthRangeTooLong", errors.InvalidInput, "month_range_too_long")
InvalidReportFormat = _define("InvalidReportFormat", errors.InvalidInput, "invalid_report_format")
InvalidStarThresholds = _define("InvalidStarThresholds", errors.InvalidInput, "invalid_star_thresholds")
InvalidCitation = _define("InvalidCitation", errors.InvalidInput, "invalid_citation")
InvalidYear = _define("InvalidYear", errors.InvalidInput, "invalid_year")
ResidentOutOfRealm = _define("ResidentOutOfRealm", errors.InvalidInput, "resident_out_of_realm")
UnknownResident = _define("InsightResidentNotFound", errors.NotFound, "resident_unknown")
AlreadyRecognised = _define("AlreadyRecognised", errors.Conflict, "already_recognised")
UnknownRecognition = _define("UnknownRecognition", errors.NotFound, "unknown_recognition")
