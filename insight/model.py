"""Indicators, privacy and recognition, pure: masked names, the metrics a rollup keeps and
the indicators derived from them per place and month, budget months left, star levels.
No I/O."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from insight import errors

# Privacy --------------------------------------------------------------------------------

MASK = "*"
NAMELESS = "居民"


def mask_name(name: str | None) -> str:
    """What another resident sees of a name: its first character, the rest masked (张三 -> 张*,
    欧阳娜娜 -> 欧***). No name: 居民."""
    if not name:
        return NAMELESS
    return name[0] + MASK * max(1, len(name) - 1)


def shown_name(name: str | None, name_public: bool, is_self: bool) -> str:
    return (name or NAMELESS) if (name_public or is_self) else mask_name(name)


def public_leaderboard_row(row: dict[str, Any], viewer_id: int | None) -> dict[str, Any]:
    """A leaderboard line as another resident sees it: rank, a masked name (unless that
    resident opted in), station and totals; never its code, id or phone. The viewer's own
    line keeps its name and says `me`."""
    me = row["resident_id"] == viewer_id
    return {"rank": row["rank"], "name": shown_name(row.get("display_name"), bool(row.get("name_public")), me),
            "me": me, "station_id": row["station_id"], "points": row["points"], "minutes": row["minutes"],
            "activities": row["activities"]}


# Indicators ----------------------------------------------------------------------------

LEVELS = ("realm", "town", "station", "setting")     # setting: urban against rural
MONTHS_MAX = 60
MONTHS_DEFAULT = 12
FORMATS = ("json", "csv", "xlsx")
SPEND_KINDS = ("general", "agri_shop", "service_provider")

# Every metric a rollup keeps (mirrors `indicator_metrics`). A new source (a rating, a
# service request) adds to these with `insight_rollup_add(...)` from its own trigger;
# the indicators below already read them.
METRICS = ("registered", "active", "awards", "minutes", "volunteer_minutes", "earned_civic", "earned_agri",
           "activities_held", "spent_general", "spent_agri_shop", "spent_service_provider",
           "rating_activity_sum", "rating_activity_count", "rating_request_sum", "rating_request_count",
           "requests_opened", "requests_completed", "request_complete_s_sum")

# The columns of a report, in order, with their Chinese headings.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("place", "地区"), ("place_name", "名称"), ("month", "月份"), ("registered", "注册居民"),
    ("active", "活跃居民"), ("participation_rate", "参与率"), ("volunteer_hours", "志愿服务时长(小时)"),
    ("hours", "参与时长(小时)"), ("activities_held", "开展活动"), ("earned", "获得积分"),
    ("earned_civic", "文明积分"), ("earned_agri", "助农积分"), ("spent", "使用积分"),
    ("spent_general", "普通商家"), ("spent_agri_shop", "助农店"), ("spent_service_provider", "服务机构"),
    ("agri_share", "助农占比"), ("rating_activities", "活动满意度(1-5)"), ("ratings_activities", "活动评价数"),
    ("rating_requests", "点单满意度(1-5)"), ("ratings_requests", "点单评价数"),
    ("requests_opened", "点单数"), ("requests_completed", "完成点单"), ("hours_to_complete", "平均完成时长(小时)"),
)
MINUTES_PER_HOUR = 60
SECONDS_PER_HOUR = 3600
RATE_DIGITS = 4


def month_of(text: str, name: str) -> date:
    """'2026-03' (or a date in the month) -> date(2026, 3, 1)."""
    try:
        parts = text.split("-")
        if len(parts) not in (2, 3) or len(parts[0]) != 4:
            raise ValueError
        return date(int(parts[0]), int(parts[1]), 1)
    except (ValueError, AttributeError):
        raise errors.InvalidMonth(f"{name} is a month, YYYY-MM") from None


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def month_range(first: str | None, last: str | None, today: date) -> list[date]:
    end = month_of(last, "to") if last else today.replace(day=1)
    start = month_of(first, "from") if first else add_months(end, 1 - MONTHS_DEFAULT)
    if start > end:
        raise errors.InvalidMonth("from is on or before to")
    count = (end.year - start.year) * 12 + end.month - start.month + 1
    if count > MONTHS_MAX:
        raise errors.MonthRangeTooLong(f"at most {MONTHS_MAX} months at once")
    return [add_months(start, i) for i in range(count)]


def check_level(level: str) -> str:
    if level not in LEVELS:
        raise errors.InvalidIndicatorLevel(f"level is one of {', '.join(LEVELS)}")
    return level


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, RATE_DIGITS) if denominator else None


def derive(place: str, place_name: str, month: date, registered: int, figures: dict[str, int]) -> dict[str, Any]:
    """One report row from one place's metrics in one month (`registered`: cumulative)."""
    f: dict[str, int] = defaultdict(int, {k: int(v) for k, v in figures.items() if k in METRICS})
    spent = sum(f[f"spent_{kind}"] for kind in SPEND_KINDS)
    return {
        "place": place, "place_name": place_name, "month": month.strftime("%Y-%m"),
        "registered": registered, "active": f["active"], "participation_rate": _ratio(f["active"], registered),
        "volunteer_hours": round(f["volunteer_minutes"] / MINUTES_PER_HOUR, 2),
        "hours": round(f["minutes"] / MINUTES_PER_HOUR, 2), "activities_held": f["activities_held"],
        "earned": f["earned_civic"] + f["earned_agri"], "earned_civic": f["earned_civic"],
        "earned_agri": f["earned_agri"], "spent": spent, "spent_general": f["spent_general"],
        "spent_agri_shop": f["spent_agri_shop"], "spent_service_provider": f["spent_service_provider"],
        "agri_share": _ratio(f["spent_agri_shop"], spent),
        "rating_activities": _ratio(f["rating_activity_sum"], f["rating_activity_count"]),
        "ratings_activities": f["rating_activity_count"],
        "rating_requests": _ratio(f["rating_request_sum"], f["rating_request_count"]),
        "ratings_requests": f["rating_request_count"],
        "requests_opened": f["requests_opened"], "requests_completed": f["requests_completed"],
        "hours_to_complete": (round(f["request_complete_s_sum"] / f["requests_completed"] / SECONDS_PER_HOUR, 2)
                              if f["requests_completed"] else None),
    }


def indicator_rows(months: list[date], places: dict[str, str], figures: list[dict[str, Any]],
                   registered_before: dict[str, int]) -> list[dict[str, Any]]:
    """Rows per place (in `places` order) and month. `figures`: one row per place and
    month with a column per metric; `registered_before`: residents registered before the
    first month."""
    by_key = {(row["place"], row["month"]): row for row in figures}
    rows = []
    for place, name in places.items():
        registered = registered_before.get(place, 0)
        for month in months:
            found = by_key.get((place, month), {})
            registered += int(found.get("registered", 0))
            rows.append(derive(place, name, month, registered, found))
    return rows


BURN_RATE_MONTHS = 3            # the current rate: mean burn of the last three whole months


def months_left(remaining: int, monthly_burn: list[int]) -> float | None:
    """Months the budget lasts at the mean burn of the given whole months (None: no burn)."""
    rate = sum(monthly_burn) / len(monthly_burn) if monthly_burn else 0
    return round(remaining / rate, 1) if rate > 0 else None


# Recognition ---------------------------------------------------------------------------

DEFAULT_STAR_HOURS = (100, 300, 600, 1000, 1500)   # the national volunteer star rating
STAR_LEVELS = len(DEFAULT_STAR_HOURS)
STAR_HOURS_MAX = 100_000
RECOGNITION_TITLE = "文明实践之星"
CITATION_LENGTH_MAX = 1000
RECOGNITIONS_PAGE_MAX = 200


@dataclass(frozen=True)
class StarLevel:
    hours: float
    level: int                    # 0: none yet; 1..5 stars
    next_level_hours: int | None  # None: the top level


def star_level(hours: float, thresholds: tuple[int, ...]) -> StarLevel:
    level = sum(1 for threshold in thresholds if hours >= threshold)
    following = thresholds[level] if level < len(thresholds) else None
    return StarLevel(round(hours, 2), level, following)


def check_thresholds(hours: list[int]) -> tuple[int, ...]:
    if len(hours) != STAR_LEVELS or any(not isinstance(h, int) or isinstance(h, bool) for h in hours):
        raise errors.InvalidStarThresholds(f"{STAR_LEVELS} whole numbers of hours, one per star")
    if not all(1 <= h <= STAR_HOURS_MAX for h in hours) or any(a >= b for a, b in zip(hours, hours[1:])):
        raise errors.InvalidStarThresholds(f"hours rise strictly, from 1 to {STAR_HOURS_MAX}")
    return tuple(hours)


def check_citation(citation: str) -> str:
    text = citation.strip() if isinstance(citation, str) else ""
    if not 1 <= len(text) <= CITATION_LENGTH_MAX:
        raise errors.InvalidCitation(f"a citation is 1 to {CITATION_LENGTH_MAX} characters")
    return text


def check_year(year: int, this_year: int) -> int:
    if not 2000 <= year <= this_year:
        raise errors.InvalidYear(f"the year is between 2000 and {this_year}")
    return year
