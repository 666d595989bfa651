"""Helpers for earning tests: a realm with a town, stations, residents and a funded budget."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from earning.service import Earning

_codes = itertools.count(1)


@dataclass
class Place:
    realm: str
    station_id: int
    other_station_id: int
    residents: list[int] = field(default_factory=list)


async def make_place(earning: Earning, realm: str, residents: int = 3, fund: int = 10_000) -> Place:
    town = await earning.create_town(realm, "岳麓街道")
    station = await earning.create_station(realm, town["id"], "桃子湖社区", "urban")
    other = await earning.create_station(realm, town["id"], "莲花村", "rural")
    place = Place(realm, station["id"], other["id"])
    for _ in range(residents):
        place.residents.append(await add_resident(earning, realm, station["id"]))
    if fund:
        await earning.fund_budget(realm, "civic", fund, "test", f"fund-{realm}-civic")
    return place


def yesterday_evening(tz: str = "Asia/Shanghai") -> datetime:
    """23:00 yesterday in the realm's time zone: hours counted back from it all fall on
    one realm day, whatever the time of the test run (a daily cap is per day)."""
    local_today = datetime.now(ZoneInfo(tz)).date()
    return datetime.combine(local_today - timedelta(days=1), time(23), ZoneInfo(tz))


async def add_resident(earning: Earning, realm: str, station_id: int) -> int:
    resident = await earning.register_resident(realm, station_id, f"R{realm}{next(_codes):06d}")
    return resident["id"]


async def past_activity(earning: Earning, place: Place, activity_type: str = "volunteering",
                        hours_ago: int = 3, station_id: int | None = None,
                        before: datetime | None = None) -> dict:
    """An activity that started `hours_ago` hours before `before` (default: now)."""
    starts = (before or datetime.now(timezone.utc)) - timedelta(hours=hours_ago)
    return await earning.create_activity(place.realm, activity_type, station_id or place.station_id,
                                         "清扫街道", starts, starts + timedelta(hours=24), "test")
