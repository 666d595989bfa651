"""Feedback's pure core: a rating's bounds, the averages a rating feeds, and when an
average crosses below 3 (an alert, once per crossing). No I/O here."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from feedback import errors
from ledger import paging
from ledger import errors as ledger_errors

RATING_MIN, RATING_MAX = 1, 5
COMMENT_LENGTH_MAX = 500
ALERT_AVERAGE = 3                 # an average below this warns the responsible organizer
ALERT_RATINGS_MIN_DEFAULT = 3     # ... once it rests on at least this many ratings
LOW_RATING_MAX = 2                # a service request rated this or lower alerts its dispatcher
AVERAGE_KINDS = ("activity", "activity_type", "organizer", "volunteer", "station")
ALERTING_KINDS = ("activity", "organizer", "volunteer")   # the "falls below 3" subjects
SUBJECT_KEY_LENGTH_MAX = 200


@dataclass(frozen=True)
class Subject:
    """One average a rating counts towards, and where its alert goes."""
    kind: str
    key: str
    station_id: int | None = None     # whose desk sees the alert
    recipient: str | None = None      # the organizer it names


def check_rating(rating: Any) -> int:
    if not isinstance(rating, int) or isinstance(rating, bool) or not RATING_MIN <= rating <= RATING_MAX:
        raise errors.RatingOutOfRange(f"a rating is {RATING_MIN} to {RATING_MAX}", rating=str(rating))
    return rating


def check_comment(comment: str | None) -> str | None:
    if comment is None or not comment.strip():
        return None
    if len(comment.strip()) > COMMENT_LENGTH_MAX:
        raise errors.InvalidComment(f"a comment is at most {COMMENT_LENGTH_MAX} characters")
    return comment.strip()


def is_below(ratings: int, total: int, ratings_min: int) -> bool:
    """Average below ALERT_AVERAGE on at least `ratings_min` ratings (whole-number arithmetic)."""
    return ratings >= ratings_min and total < ALERT_AVERAGE * ratings


def crossed(was_below: bool, now_below: bool) -> bool:
    """An alert fires when the average goes below, not again while it stays there."""
    return now_below and not was_below


def average(ratings: int, total: int) -> float | None:
    return round(total / ratings, 2) if ratings else None


def activity_subjects(activity: dict[str, Any]) -> list[Subject]:
    station, organizer = activity["station_id"], activity["created_by"]
    return [Subject("activity", str(activity["id"]), station, organizer),
            Subject("activity_type", activity["activity_type"], station, None),
            Subject("organizer", organizer, station, organizer),
            Subject("station", str(station), station, None)]


def request_subjects(request: dict[str, Any]) -> list[Subject]:
    station, dispatcher = request["station_id"], request.get("dispatched_by")
    subjects = [Subject("volunteer", str(request["volunteer_id"]), station, dispatcher),
                Subject("station", str(station), station, None)]
    if dispatcher:
        subjects.append(Subject("organizer", dispatcher, station, dispatcher))
    return subjects


def check_average_query(kind: str | None) -> str | None:
    if kind is not None and kind not in AVERAGE_KINDS:
        raise errors.InvalidAverageQuery(f"kind is one of {', '.join(AVERAGE_KINDS)}")
    return kind


ALERTS = paging.Cursor("f1", minimum=0)   # alerts, newest first, by id
AVERAGES_CURSOR = "f2"                     # averages by (subject kind, subject key)


def averages_cursor(row: dict[str, Any]) -> str:
    """After this row's subject (its key, which may hold any character, in hex)."""
    return paging.encode_parts(AVERAGES_CURSOR, row["subject_kind"], row["subject_key"].encode().hex())


def decode_averages_cursor(cursor: str | None) -> tuple[str, str] | None:
    if cursor is None or cursor == "":
        return None
    kind, key = paging.decode_parts(cursor, AVERAGES_CURSOR, 2)
    try:
        return kind, bytes.fromhex(key).decode()
    except (ValueError, UnicodeDecodeError):
        raise ledger_errors.InvalidCursor("this cursor was not given by this list") from None
