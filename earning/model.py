"""Earning's pure core: the award calculation, rule checks, attendance records,
periods, cursors and the attendance CSV format. No I/O here.

Awards run in SQL (`earning_award_chunk`): the formula, the per-record refusals, the daily
cap and the budget (earning/sql/earning_award_chunk.sql). `award_points` stays here because the activity listings show what
staying to the end earns (`points_on_offer`) before anything is awarded; the
per-record refusals and the daily cap have their reference model, used only by tests,
in `earning/reference.py` (see CONTRIBUTING.md, "Where each rule lives")."""
from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from earning import errors
from ledger import errors as ledger_errors
from ledger import idempotency, paging
from ledger.assets import ASSETS

# Named limits.
RECORDS_PER_REQUEST_MAX = 1000        # attendance records in one POST
CSV_CHUNK_ROWS = 1000                 # rows per committed chunk of an import
MINUTES_PER_RECORD_MAX = 24 * 60      # a record longer than a day is a typing error
MINUTES_PER_HOUR = 60
BASE_POINTS_MAX = 10_000
POINTS_PER_HOUR_MAX = 1_000
DAILY_CAP_POINTS_MAX = 100_000
NAME_LENGTH_MAX = 200
DISPLAY_NAME_LENGTH_MAX = 100
TITLE_LENGTH_MAX = 200
LEADERBOARD_SIZE_DEFAULT = 20
LEADERBOARD_SIZE_MAX = 100

STATION_SETTINGS = ("urban", "rural")
LEADERBOARD_ORDERS = ("points", "hours")
ACTIVITY_STATUSES = ("draft", "published", "cancelled", "closed")
NEW_ACTIVITY_STATUSES = ("draft", "published")
PLACE_LENGTH_MAX = 200
DESCRIPTION_LENGTH_MAX = 4000
CAPACITY_MAX = 100_000
WAITLIST_SIZE_MAX = 50                # waitlisted sign-ups per activity; past it: activity_full
UPCOMING_PAGE_DEFAULT = 20

_RESIDENT_CODE = re.compile(r"^[A-Za-z0-9_-]{4,40}$")
_PHONE = re.compile(r"^\+?[0-9]{5,20}$")
_TYPE_CODE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


@dataclass(frozen=True)
class Rule:
    """One version of an activity type's rule."""
    asset: str
    base_points: int
    points_per_hour: int
    creditable_minutes_max: int
    daily_cap_points: int
    version: int = 1


# The seed's catalogue (also seeded per realm by the migration).
DEFAULT_POINTS_PER_HOUR = 2
DEFAULT_CREDITABLE_MINUTES_MAX = 240
DEFAULT_DAILY_CAP_POINTS = 100
DEFAULT_BASE_POINTS = {"talk": 10, "volunteering": 20, "training": 15, "other": 5}
OTHER_TYPE_BASE_POINTS = DEFAULT_BASE_POINTS["other"]


def award_points(rule: Rule, minutes: int) -> int:
    """Base points plus points per full hour, hours credited up to the rule's maximum."""
    check_minutes(minutes)
    credited = min(minutes, rule.creditable_minutes_max)
    return rule.base_points + rule.points_per_hour * (credited // MINUTES_PER_HOUR)


def check_minutes(minutes: int) -> int:
    if not isinstance(minutes, int) or isinstance(minutes, bool):
        raise errors.MinutesOutOfRange("minutes are a whole number")
    if not 1 <= minutes <= MINUTES_PER_RECORD_MAX:
        raise errors.MinutesOutOfRange(
            f"minutes are between 1 and {MINUTES_PER_RECORD_MAX}", minutes=minutes)
    return minutes


def check_rule(rule: Rule) -> Rule:
    if rule.asset not in ASSETS:
        raise errors.UnknownAsset(f"asset is one of {', '.join(ASSETS)}")
    _check_range("base_points", rule.base_points, 0, BASE_POINTS_MAX)
    _check_range("points_per_hour", rule.points_per_hour, 0, POINTS_PER_HOUR_MAX)
    _check_range("creditable_minutes_max", rule.creditable_minutes_max, 1, MINUTES_PER_RECORD_MAX)
    _check_range("daily_cap_points", rule.daily_cap_points, 1, DAILY_CAP_POINTS_MAX)
    if rule.base_points == 0 and rule.points_per_hour == 0:
        raise errors.InvalidRule("a rule that pays nothing is not a rule")
    return rule


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise errors.InvalidRule(f"{name} is a whole number between {low} and {high}")


def check_type_code(code: str) -> str:
    if not _TYPE_CODE.match(code):
        raise errors.InvalidRule("an activity type code is 2 to 40 of a-z, 0-9, _ (starting a-z)")
    return code


def check_name(name: str, what: str, length_max: int = NAME_LENGTH_MAX) -> str:
    if not 1 <= len(name.strip()) <= length_max:
        raise ledger_errors.InvalidInput(f"{what} is 1 to {length_max} characters")
    return name.strip()


def check_setting(setting: str) -> str:
    if setting not in STATION_SETTINGS:
        raise errors.InvalidStation(f"a station is {' or '.join(STATION_SETTINGS)}")
    return setting


def check_resident_fields(code: str, display_name: str | None, phone: str | None) -> None:
    if not _RESIDENT_CODE.match(code):
        raise errors.InvalidResident("a resident code is 4 to 40 of A-Z, a-z, 0-9, _ and -")
    if display_name is not None:
        check_name(display_name, "a display name", DISPLAY_NAME_LENGTH_MAX)
    if phone is not None and not _PHONE.match(phone):
        raise errors.InvalidResident("a phone number is 5 to 20 digits, optionally after +")


def check_activity_times(starts_at: datetime, ends_at: datetime) -> None:
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise ledger_errors.InvalidTimestamp("timestamps carry a UTC offset")
    if ends_at <= starts_at:
        raise errors.EndBeforeStart("an activity ends after it starts")


@dataclass(frozen=True)
class ActivityDetails:
    """What residents see of an activity besides its title and times."""
    place: str | None = None
    description: str | None = None
    capacity: int | None = None            # None: no limit
    signup_opens_at: datetime | None = None
    signup_closes_at: datetime | None = None   # None: when the activity starts
    status: str = "published"


def check_activity_details(details: ActivityDetails, starts_at: datetime) -> ActivityDetails:
    place = check_name(details.place, "a place", PLACE_LENGTH_MAX) if details.place is not None else None
    description = details.description.strip() if details.description is not None else None
    if description is not None and len(description) > DESCRIPTION_LENGTH_MAX:
        raise errors.InvalidActivity(f"a description is at most {DESCRIPTION_LENGTH_MAX} characters")
    if details.capacity is not None and (not isinstance(details.capacity, int)
                                         or not 1 <= details.capacity <= CAPACITY_MAX):
        raise errors.InvalidActivity(f"capacity is between 1 and {CAPACITY_MAX} places, or none")
    if details.status not in NEW_ACTIVITY_STATUSES:
        raise errors.InvalidActivity(f"a new activity is {' or '.join(NEW_ACTIVITY_STATUSES)}")
    for moment in (details.signup_opens_at, details.signup_closes_at):
        if moment is not None and moment.tzinfo is None:
            raise ledger_errors.InvalidTimestamp("timestamps carry a UTC offset")
    closes = details.signup_closes_at or starts_at
    if details.signup_opens_at is not None and details.signup_opens_at >= closes:
        raise errors.InvalidActivity("sign-up opens before it closes")
    return ActivityDetails(place or None, description or None, details.capacity,
                           details.signup_opens_at, details.signup_closes_at, details.status)


def signup_open(activity: dict[str, Any], now: datetime) -> bool:
    opens = activity.get("signup_opens_at")
    closes = activity.get("signup_closes_at") or activity["starts_at"]
    return (opens is None or opens <= now) and now < closes


def signup_place(activity: dict[str, Any], waitlisted: int) -> str:
    """Where a new sign-up goes: a seat, the waitlist, or nowhere (activity_full)."""
    capacity = activity.get("capacity")
    if capacity is None or activity["confirmed_count"] < capacity:
        return "confirmed"
    if waitlisted < WAITLIST_SIZE_MAX:
        return "waitlisted"
    raise errors.ActivityFull("every place and the waitlist are taken",
                              activity_id=activity["id"], capacity=capacity)


def points_on_offer(rule: Rule, starts_at: datetime, ends_at: datetime) -> int:
    """What staying the whole activity earns under the rule in force (before daily caps)."""
    return award_points(rule, min(activity_minutes(starts_at, ends_at), MINUTES_PER_RECORD_MAX))


# venue codes: signed, rotating; check-in minutes --------------------------------------

CHECKIN_CODE_STEP_S = 30               # a code rotates this often
CHECKIN_CODE_STEPS_ACCEPTED = 2        # the current code and the one just before it
CHECKIN_WINDOW_MARGIN_S = 15 * 60      # codes work from 15 min before the start to 15 min after the end
CHECKOUT_AFTER_S_MIN = 60              # a second scan sooner than this is the same scan twice
CLOSE_GRACE_S = 30 * 60                # the background job closes an activity this long after its end
CHECKIN_CODE_LENGTH_MAX = 100
CODE_MAC_BYTES = 10
VENUE_CODE = "PBV1"                    # the desk's code for one activity
PERSONAL_CODE = "PBP1"                 # a resident's own code


@dataclass(frozen=True)
class SignedCode:
    kind: str          # VENUE_CODE or PERSONAL_CODE
    subject_id: int    # the activity or the resident
    step: int          # which 30-second step it was made for
    mac: str


def code_step(now: datetime) -> int:
    return int(now.timestamp()) // CHECKIN_CODE_STEP_S


def step_ends_at(step: int) -> datetime:
    return datetime.fromtimestamp((step + 1) * CHECKIN_CODE_STEP_S, timezone.utc)


def _mac(secret: bytes, kind: str, subject_id: int, step: int) -> str:
    digest = hmac.new(secret, f"{kind}:{subject_id}:{step}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:CODE_MAC_BYTES]).decode().rstrip("=")


def sign_code(secret: bytes, kind: str, subject_id: int, now: datetime) -> str:
    step = code_step(now)
    return f"{kind}.{subject_id}.{step}.{_mac(secret, kind, subject_id, step)}"


def parse_code(code: str, kind: str) -> SignedCode:
    """The parts of a signed code of `kind`; anything else is `checkin_code_invalid`."""
    parts = code.strip().split(".") if isinstance(code, str) and len(code) <= CHECKIN_CODE_LENGTH_MAX else []
    if len(parts) != 4 or parts[0] != kind or not parts[1].isdigit() or not parts[2].isdigit():
        raise errors.CheckinCodeInvalid("this is not a check-in code")
    return SignedCode(kind, int(parts[1]), int(parts[2]), parts[3])


def check_code(secret: bytes, code: SignedCode, now: datetime) -> None:
    """Forged (`checkin_code_invalid`) or older than the accepted steps (`checkin_code_expired`)."""
    if not hmac.compare_digest(code.mac, _mac(secret, code.kind, code.subject_id, code.step)):
        raise errors.CheckinCodeInvalid("this check-in code is not genuine")
    age = code_step(now) - code.step
    if not 0 <= age < CHECKIN_CODE_STEPS_ACCEPTED:
        raise errors.CheckinCodeExpired("this check-in code has expired; scan the current one")


def checkin_window(activity: dict[str, Any]) -> tuple[datetime, datetime]:
    margin = timedelta(seconds=CHECKIN_WINDOW_MARGIN_S)
    return activity["starts_at"] - margin, activity["ends_at"] + margin


def check_in_window(activity: dict[str, Any], now: datetime) -> None:
    opens, closes = checkin_window(activity)
    if not opens <= now <= closes:
        raise errors.CheckinOutsideWindow("check-in is open from 15 minutes before the start to "
                                          "15 minutes after the end", opens_at=opens.isoformat(),
                                          closes_at=closes.isoformat())


def checkin_action(existing: dict[str, Any] | None, direction: str | None, now: datetime) -> str:
    """`in` or `out` for a scan; a first scan checks in, a second checks out."""
    if direction not in (None, "in", "out"):
        raise ledger_errors.InvalidInput("direction is in or out")
    if existing is None:
        if direction == "out":
            raise errors.NotCheckedIn("check in before checking out")
        return "in"
    if existing["checked_out_at"] is not None:
        raise errors.AlreadyCheckedOut("already checked in and out of this activity")
    if direction == "in" or (now - existing["checked_in_at"]).total_seconds() < CHECKOUT_AFTER_S_MIN:
        raise errors.AlreadyCheckedIn("already checked in; scan again when leaving")
    return "out"


def attended_minutes(checked_in_at: datetime, checked_out_at: datetime, starts_at: datetime,
                     ends_at: datetime) -> int:
    """Check-out minus check-in, clipped to the activity's time; whole minutes."""
    stayed = min(checked_out_at, ends_at) - max(checked_in_at, starts_at)
    return max(int(stayed.total_seconds()) // 60, 0)


# attendance ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Record:
    """One attendance record; `n` is its position (1-based) in the request or file."""
    n: int
    activity_id: int
    resident_id: int
    minutes: int


def activity_minutes(starts_at: datetime, ends_at: datetime) -> int:
    """How long an activity lasted: nobody attends it for longer."""
    return int((ends_at - starts_at).total_seconds()) // 60


def check_record_count(count: int) -> None:
    if count == 0:
        raise errors.NoRecords("send at least one attendance record")
    if count > RECORDS_PER_REQUEST_MAX:
        raise errors.TooManyRecords(
            f"at most {RECORDS_PER_REQUEST_MAX} records per request", count=count)


def attendance_hash(activity_id: int, records: list[Record]) -> bytes:
    """Fingerprint of a bulk request (not who or when), for its Idempotency-Key."""
    return idempotency.request_hash([activity_id, [(r.resident_id, r.minutes) for r in records]])


# periods and pages --------------------------------------------------------------------

def period_days(period: str | None, today: date) -> tuple[date, date]:
    """`YYYY`, `YYYY-MM` or `YYYY-MM-DD` (days in the realm's time zone) as the first and
    last day; none means the current month."""
    text = period or today.strftime("%Y-%m")
    try:
        if re.fullmatch(r"[0-9]{4}", text):
            year = int(text)
            return date(year, 1, 1), date(year, 12, 31)
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}", text):
            first = date(int(text[:4]), int(text[5:]), 1)
            following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
            return first, following - timedelta(days=1)
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            day = date.fromisoformat(text)
            return day, day
    except ValueError:
        pass
    raise errors.InvalidPeriod("period is YYYY, YYYY-MM or YYYY-MM-DD")


CURSOR = paging.Cursor("e1", minimum=0)
encode_cursor, decode_cursor = CURSOR.encode, CURSOR.decode


def check_leaderboard_size(limit: int | None) -> int:
    return paging.check_page_size(limit, LEADERBOARD_SIZE_DEFAULT, LEADERBOARD_SIZE_MAX)


# the attendance CSV -------------------------------------------------------------------

CSV_COLUMNS = {
    "activity_id": ("activity_id", "activity", "活动编号", "活动id", "活动"),
    "resident_id": ("resident_id", "resident", "居民编号", "居民id", "居民",
                    "resident_code", "code", "居民代码", "居民码", "居民编码"),
    "minutes": ("minutes", "时长", "分钟", "时长(分钟)", "时长（分钟）", "时长/分钟"),
}
# Under these headers a resident is always named by its code, even an all-digit one; under
# the others an all-digit value is an id (refused when it is also another resident's code).
RESIDENT_CODE_HEADERS = ("resident_code", "code", "居民代码", "居民码", "居民编码")
CSV_ENCODINGS = ("utf-8-sig", "gb18030")   # GB18030 reads GBK too (Excel on Chinese Windows)
ROW_UNREADABLE = "row_unreadable"          # a row the csv module cannot read (a field too long)
AMBIGUOUS_RESIDENT = "ambiguous_resident"


@dataclass(frozen=True)
class CsvRow:
    """A parsed CSV row: a record, or the error that kept it from being one. A row naming
    its resident by code has `resident_code` and waits for `resolve_code`."""
    n: int                     # the row's line number in the file (header is line 1)
    record: Record | None
    error: str | None = None
    resident: str = ""
    resident_code: str | None = None
    activity_id: int = 0
    minutes: int = 0


def decode_csv(raw: bytes) -> str:
    """UTF-8 (with or without a byte-order mark), else GB18030/GBK; anything else is refused."""
    for encoding in CSV_ENCODINGS:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise errors.CsvEncodingInvalid(
        "the file is neither UTF-8 nor GBK/GB18030; save it as CSV (UTF-8) and try again")


def column_positions(header: list[str]) -> dict[str, int]:
    names = [cell.strip().lower() for cell in header]
    positions: dict[str, int] = {}
    for column, accepted in CSV_COLUMNS.items():
        for index, name in enumerate(names):
            if name in accepted:
                positions[column] = index
                break
        else:
            raise errors.CsvColumnMissing(
                f"the file has no {column} column (accepted headers: {', '.join(accepted)})",
                column=column)
    return positions


def parse_csv(text: str) -> Iterator[CsvRow]:
    """Rows of an attendance CSV; a row that cannot be read becomes an error row. A
    missing header or column raises at once, before any row is read."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise errors.CsvColumnMissing(f"the header row cannot be read: {exc}") from None
    if header is None:
        raise errors.CsvColumnMissing("the file is empty; it needs a header row")
    positions = column_positions(header)
    by_code = header[positions["resident_id"]].strip().lower() in RESIDENT_CODE_HEADERS
    return _csv_rows(reader, positions, by_code)


def _csv_rows(reader: Any, positions: dict[str, int], by_code: bool) -> Iterator[CsvRow]:
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error:  # e.g. a field over the csv module's limit: refuse that row only
            yield CsvRow(reader.line_num, None, ROW_UNREADABLE)
            continue
        if any(cell.strip() for cell in cells):
            yield _csv_row(reader.line_num, cells, positions, by_code)


def _csv_row(n: int, cells: list[str], positions: dict[str, int], by_code: bool) -> CsvRow:
    values: dict[str, int] = {}
    resident = cells[positions["resident_id"]].strip() if positions["resident_id"] < len(cells) else ""
    for column, index in positions.items():
        cell = cells[index].strip() if index < len(cells) else ""
        if column == "resident_id" and (by_code or not cell.isdigit()):
            if not _RESIDENT_CODE.match(cell):
                return CsvRow(n, None, "invalid_resident_id", resident[:40])
            continue
        if not re.fullmatch(r"-?[0-9]{1,18}", cell):
            code = "minutes_out_of_range" if column == "minutes" and cell else f"invalid_{column}"
            return CsvRow(n, None, code, resident[:40])
        values[column] = int(cell)
    if "resident_id" not in values:
        return CsvRow(n, None, None, resident, resident_code=resident,
                      activity_id=values["activity_id"], minutes=values["minutes"])
    record = Record(n, values["activity_id"], values["resident_id"], values["minutes"])
    code = resident if _RESIDENT_CODE.match(resident) else None  # an all-digit id may also be a code
    return CsvRow(n, record, None, resident, resident_code=code, activity_id=record.activity_id,
                  minutes=record.minutes)


def resolve_code(row: CsvRow, realms: dict[int, str], ids: dict[tuple[str, str], int]) -> CsvRow:
    """A row whose resident is a code, with the resident's id (`ids`: (realm, code) -> id,
    looked up in the activity's realm); an id that is also another resident's code is refused."""
    if row.resident_code is None:
        return row
    if row.activity_id not in realms:
        return row if row.record is not None else CsvRow(row.n, None, "unknown_activity", row.resident)
    found = ids.get((realms[row.activity_id], row.resident_code))
    if row.record is not None:
        if found is None or found == row.record.resident_id:
            return row
        return CsvRow(row.n, None, AMBIGUOUS_RESIDENT, row.resident)
    if found is None:
        return CsvRow(row.n, None, "unknown_resident", row.resident)
    return CsvRow(row.n, Record(row.n, row.activity_id, found, row.minutes), None, row.resident)


def chunks(rows: Iterable[CsvRow], size: int = CSV_CHUNK_ROWS) -> Iterator[list[CsvRow]]:
    chunk: list[CsvRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
