"""Earning's domain errors: each subclasses a ledger category (which gives the HTTP status)
and carries a stable code. Codes the database raises are registered by code."""
from __future__ import annotations

from functools import partial

from ledger import db, errors

_define = partial(errors.define, module=__name__)


UnknownActivityType = _define("UnknownActivityType", errors.InvalidInput, "unknown_activity_type")
UnknownActivity = _define("UnknownActivity", errors.InvalidInput, "unknown_activity")
UnknownResident = _define("UnknownResident", errors.InvalidInput, "unknown_resident")
UnknownStation = _define("UnknownStation", errors.InvalidInput, "unknown_station")
UnknownTown = _define("UnknownTown", errors.InvalidInput, "unknown_town")
UnknownAsset = _define("UnknownAsset", errors.InvalidInput, "unknown_asset")
InvalidRule = _define("InvalidRule", errors.InvalidInput, "invalid_rule")
InvalidActivity = _define("InvalidActivity", errors.InvalidInput, "invalid_activity")
EndBeforeStart = _define("EndBeforeStart", errors.InvalidInput, "end_before_start")
InvalidResident = _define("InvalidResident", errors.InvalidInput, "invalid_resident")
InvalidStation = _define("InvalidStation", errors.InvalidInput, "invalid_station")
InvalidPeriod = _define("InvalidPeriod", errors.InvalidInput, "invalid_period")
MinutesOutOfRange = _define("MinutesOutOfRange", errors.InvalidInput, "minutes_out_of_range")
TooManyRecords = _define("TooManyRecords", errors.InvalidInput, "too_many_records")
NoRecords = _define("NoRecords", errors.InvalidInput, "no_records")
ActivityNotStarted = _define("ActivityNotStarted", errors.Refused, "activity_not_started")
DailyCapReached = _define("DailyCapReached", errors.Refused, "daily_cap_reached")
# The rule gives this record 0 points (no base points, and less than a full hour): nothing
# to pay, which is not the daily cap.
NoPointsEarned = _define("NoPointsEarned", errors.Refused, "no_points_earned")
CsvEncodingInvalid = _define("CsvEncodingInvalid", errors.InvalidInput, "csv_encoding_invalid")
CsvColumnMissing = _define("CsvColumnMissing", errors.InvalidInput, "csv_column_missing")
AwardEntryMismatch = _define("AwardEntryMismatch", errors.InvalidInput, "award_entry_mismatch")
ActivityFull = _define("ActivityFull", errors.Refused, "activity_full")
SignupClosed = _define("SignupClosed", errors.Refused, "signup_closed")
ActivityNotOpen = _define("ActivityNotOpen", errors.Refused, "activity_not_open")
ActivityStatusInvalid = _define("ActivityStatusInvalid", errors.InvalidInput, "activity_status_invalid")
ActivityClosed = _define("ActivityClosed", errors.Refused, "activity_closed")
CapacityBelowSignups = _define("CapacityBelowSignups", errors.InvalidInput, "capacity_below_signups")
CheckinCodeInvalid = _define("CheckinCodeInvalid", errors.InvalidInput, "checkin_code_invalid")
CheckinCodeExpired = _define("CheckinCodeExpired", errors.Refused, "checkin_code_expired")
CheckinCodeOtherActivity = _define("CheckinCodeOtherActivity", errors.Refused, "checkin_code_other_activity")
CheckinOutsideWindow = _define("CheckinOutsideWindow", errors.Refused, "checkin_outside_window")
CheckinOtherRealm = _define("CheckinOtherRealm", errors.Refused, "checkin_other_realm")
AlreadyCheckedIn = _define("AlreadyCheckedIn", errors.Conflict, "already_checked_in")
AlreadyCheckedOut = _define("AlreadyCheckedOut", errors.Conflict, "already_checked_out")
NotCheckedIn = _define("NotCheckedIn", errors.Refused, "not_checked_in")
SignupNotFound = _define("SignupNotFound", errors.NotFound, "signup_not_found")
ActivityTypeExists = _define("ActivityTypeExists", errors.Conflict, "activity_type_exists")
ResidentExists = _define("ResidentExists", errors.Conflict, "resident_exists")
StationExists = _define("StationExists", errors.Conflict, "station_exists")
TownExists = _define("TownExists", errors.Conflict, "town_exists")
ResidentNotFound = _define("ResidentNotFound", errors.NotFound, "resident_not_found")
StationNotFound = _define("StationNotFound", errors.NotFound, "station_not_found")
ActivityNotFound = _define("ActivityNotFound", errors.NotFound, "activity_not_found")
ActivityTypeNotFound = _define("ActivityTypeNotFound", errors.NotFound, "activity_type_not_found")

# Unique keys whose violation means "already exists", by constraint name.
db.CONSTRAINT_ERRORS.update({
    "towns_name_unique": TownExists,
    "stations_name_unique": StationExists,
    "residents_code_unique": ResidentExists,
    "activity_types_pkey": ActivityTypeExists,
    "activities_capacity": ActivityFull,
})
