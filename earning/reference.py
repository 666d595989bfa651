"""REFERENCE MODEL ONLY: used by tests, never by production code.

Awards run in SQL (`earning_award_chunk`, reached by `earning_record_attendance` for a
bulk request or an activity's close, and by the CSV import). This module says in plain
Python what that function must answer, so that hypothesis tests can call the SQL on a
real database and compare (tests/integration/test_rule_differential.py). It shares only
`model.award_points` (the formula the listings show as `points_on_offer`).

The rules, per record, in request order (`n`):

1. `unknown_activity`: no such activity in the realm; `activity_not_started`: it starts
   in the future.
2. `minutes_out_of_range`: minutes below 1, above `MINUTES_PER_RECORD_MAX`, or longer than
   the activity lasted.
3. `duplicate_record`: the same (activity, resident) as an earlier record that passed 1-2.
4. `unknown_resident`: no resident of the realm with an account of the rule's asset.
5. Awarded before (any request): the first award again, `replayed`.
6. Points: `award_points` under the activity type's newest rule, capped so that a
   resident's awards of one activity type on one day (the activity's start, in the
   realm's time zone) never pass the rule's daily cap. A record whose formula gives 0
   points (no base points, less than a full hour) is `no_points_earned`; one that the
   cap leaves with nothing is `daily_cap_reached`.
7. `budget_exhausted`: paid in request order while the cumulative points of the budget
   (one per asset) fit its balance; from the first that does not fit, none is paid.

A service request's confirmation pays its volunteer under the 志愿 rule by the same cap
(`service_pay`): the formula's points for the minutes, never past what the rule's daily
cap leaves on the day the service was done after everything the volunteer earned under
the rule that day, attendance and service awards alike (`earning_earned_on_day`, which
the chunk's cap reads too; production: `orders.model.volunteer_points` in the confirming
transaction). Nothing left: no award, and the request is confirmed all the same.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from earning import errors
from earning.model import MINUTES_PER_RECORD_MAX, Record, Rule, award_points
from ledger.require import require

DUPLICATE_RECORD = "duplicate_record"
UNKNOWN_ACTIVITY = "unknown_activity"
ACTIVITY_NOT_STARTED = "activity_not_started"
MINUTES_OUT_OF_RANGE = errors.MinutesOutOfRange.code
UNKNOWN_RESIDENT = "unknown_resident"
DAILY_CAP_REACHED = errors.DailyCapReached.code
NO_POINTS_EARNED = errors.NoPointsEarned.code
BUDGET_EXHAUSTED = "budget_exhausted"
SECONDS_PER_MINUTE = 60


@dataclass(frozen=True)
class ActivityFacts:
    """What the award of a record needs to know of its activity."""
    activity_type: str
    rule: Rule                 # the type's newest rule (its `version` is reported)
    award_day: date            # the activity's start, in the realm's time zone
    length_s: int              # ends_at - starts_at
    started: bool = True


@dataclass(frozen=True)
class Book:
    """What earlier awards left: the awards, points per (resident, type, day), budgets."""
    budgets: dict[str, int]
    awards: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    earned: dict[tuple[int, str, date], int] = field(default_factory=dict)   # awards and service awards


def capped_points(points: int, earned_today: int, daily_cap_points: int) -> int:
    """What may still be paid today: never negative, never past the daily cap."""
    left = max(daily_cap_points - earned_today, 0)
    return max(min(points, left), 0)


def service_pay(book: Book, resident_id: int, activity_type: str, day: date, rule: Rule,
                minutes: int) -> tuple[int, Book]:
    """What confirming a request of `minutes` done by `resident_id` on `day` pays under
    `rule` (0: the daily cap was reached), and the book after it."""
    day_key = (resident_id, activity_type, day)
    earned_today = book.earned.get(day_key, 0)
    points = capped_points(award_points(rule, minutes), earned_today, rule.daily_cap_points)
    earned = {**book.earned, day_key: earned_today + points}
    budgets = {**book.budgets, rule.asset: book.budgets.get(rule.asset, 0) - points}
    return points, replace(book, budgets=budgets, earned=earned)


def minutes_refused(minutes: int, length_s: int | None = None) -> bool:
    if not isinstance(minutes, int) or isinstance(minutes, bool):
        return True
    if not 1 <= minutes <= MINUTES_PER_RECORD_MAX:
        return True
    return length_s is not None and minutes * SECONDS_PER_MINUTE > length_s


def record_errors(records: list[Record], length_s: int | None = None) -> dict[int, str]:
    """Refusals 2 and 3 alone (no activity, resident or book needed): n -> code."""
    refused: dict[int, str] = {}
    seen: set[tuple[int, int]] = set()
    for record in records:
        key = (record.activity_id, record.resident_id)
        if minutes_refused(record.minutes, length_s):
            refused[record.n] = MINUTES_OUT_OF_RANGE
        elif key in seen:
            refused[record.n] = DUPLICATE_RECORD
        else:
            seen.add(key)
    return refused


def _refusal(record: Record, activity: ActivityFacts | None, residents: set[int],
             seen: set[tuple[int, int]]) -> str | None:
    """Refusals 1 to 4; `seen` gains the record when it passes 1 and 2."""
    if activity is None:
        return UNKNOWN_ACTIVITY
    if not activity.started:
        return ACTIVITY_NOT_STARTED
    if minutes_refused(record.minutes, activity.length_s):
        return MINUTES_OUT_OF_RANGE
    key = (record.activity_id, record.resident_id)
    if key in seen:
        return DUPLICATE_RECORD
    seen.add(key)
    return None if record.resident_id in residents else UNKNOWN_RESIDENT


def award_chunk(book: Book, activities: Mapping[int, ActivityFacts], residents: set[int],
                records: list[Record]) -> tuple[list[dict[str, Any]], Book]:
    """One result per record (as `earning_award_chunk` answers, without entry ids) and
    the book after the chunk."""
    budgets, awards, earned = dict(book.budgets), dict(book.awards), dict(book.earned)
    exhausted: set[str] = set()
    seen: set[tuple[int, int]] = set()
    results: list[dict[str, Any]] = []
    for record in sorted(records, key=lambda r: r.n):
        head = {"n": record.n, "activity_id": record.activity_id, "resident_id": record.resident_id}
        activity = activities.get(record.activity_id)
        refused = _refusal(record, activity, residents, seen)
        if refused is not None:
            results.append({**head, "error": refused})
            continue
        require(activity is not None, "a record that passed the refusals has an activity")
        key = (record.activity_id, record.resident_id)
        if key in awards:
            results.append({**head, **awards[key], "replayed": True})
            continue
        rule, day_key = activity.rule, (record.resident_id, activity.activity_type, activity.award_day)
        formula = award_points(rule, record.minutes)
        if formula <= 0:
            results.append({**head, "error": NO_POINTS_EARNED})
            continue
        points = capped_points(formula, earned.get(day_key, 0), rule.daily_cap_points)
        if points <= 0:
            results.append({**head, "error": DAILY_CAP_REACHED})
            continue
        if rule.asset in exhausted or points > budgets.get(rule.asset, 0):
            exhausted.add(rule.asset)
            results.append({**head, "error": BUDGET_EXHAUSTED})
            continue
        budgets[rule.asset] = budgets.get(rule.asset, 0) - points
        earned[day_key] = earned.get(day_key, 0) + points
        awards[key] = {"asset": rule.asset, "points": points, "rule_version": rule.version}
        results.append({**head, **awards[key], "replayed": False})
    return results, replace(book, budgets=budgets, awards=awards, earned=earned)
