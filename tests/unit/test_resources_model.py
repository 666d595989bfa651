"""The pure rules of resources and reservations."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ledger import errors as ledger_errors
from resources import errors, model

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)
HOME = model.Station("430104", 7, 3)


def view(**changes) -> model.SlotView:
    fields = dict(starts_at=NOW + timedelta(days=2), capacity=5, priority_places=2, booked=0, priority_booked=0,
                  priority_price=10, priority_early_h=24, booking_opens_h=24)
    return model.SlotView(**{**fields, **changes})


def test_ordinary_bookings_leave_the_priority_places_and_priority_takes_any():
    assert model.free_places(view(booked=3), False) == 0
    assert model.free_places(view(booked=3), True) == 2
    assert model.free_places(view(booked=4, priority_booked=2), False) == 1
    with pytest.raises(errors.SlotFull):
        model.check_bookable(view(booked=3), False, NOW + timedelta(days=1, hours=1))


def test_priority_opens_early_and_ordinary_booking_later():
    early = NOW + timedelta(hours=1)          # 47 h before the start: priority only (opens 48 h before)
    model.check_bookable(view(), True, early)
    with pytest.raises(errors.BookingNotOpen):
        model.check_bookable(view(), False, early)
    with pytest.raises(errors.SlotPast):
        model.check_bookable(view(), True, NOW + timedelta(days=2))
    with pytest.raises(errors.PriorityNotOffered):
        model.check_bookable(view(priority_price=0), True, early)


def test_cancel_cutoff_and_mark_windows():
    starts = NOW + timedelta(hours=10)
    assert model.check_cancel(starts, 10, False, NOW) == "cancelled"
    with pytest.raises(errors.CancelCutoffPassed):
        model.check_cancel(starts, 10, False, NOW + timedelta(seconds=1))
    assert model.check_cancel(starts, 10, True, starts) == "provider_cancelled"
    model.check_mark("attended", starts, starts - timedelta(seconds=model.MARK_EARLY_S))
    with pytest.raises(errors.MarkTooEarly):
        model.check_mark("no_show", starts, starts - timedelta(seconds=1))
    with pytest.raises(errors.InvalidBooking):
        model.check_mark("came", starts, starts)


@pytest.mark.parametrize(("status", "forfeit", "points"), [
    ("attended", False, "captured"), ("no_show", True, "captured"), ("no_show", False, "released"),
    ("cancelled", True, "released"), ("provider_cancelled", True, "released")])
def test_what_becomes_of_the_points(status, forfeit, points):
    assert model.points_after(status, True, forfeit) == points
    assert model.points_after(status, False, forfeit) == "none"


def test_places_rank_same_station_town_online_then_the_rest():
    assert model.place_rank("430104", 7, None, False, 3, HOME) == model.SAME_STATION
    assert model.place_rank("430104", 8, None, False, 3, HOME) == model.SAME_TOWN
    assert model.place_rank("430104", None, 3, False, 3, HOME) == model.SAME_TOWN
    assert model.place_rank("430104", None, None, True, None, HOME) == model.ONLINE
    assert model.place_rank("430105", 7, None, False, 3, HOME) == model.ELSEWHERE   # another realm's station 7


def test_weekly_pattern_keeps_the_local_time_and_bad_times_are_refused():
    starts = model.weekly_starts(datetime(2026, 12, 1, 9, 0, tzinfo=timezone(timedelta(hours=8))), 3, "Asia/Shanghai")
    assert [s.isoformat() for s in starts] == ["2026-12-01T01:00:00+00:00", "2026-12-08T01:00:00+00:00",
                                               "2026-12-15T01:00:00+00:00"]
    with pytest.raises(errors.InvalidPattern):
        model.weekly_starts(datetime(9999, 12, 30, tzinfo=timezone.utc), 3, "Asia/Shanghai")
    with pytest.raises(errors.InvalidPattern):
        model.weekly_starts(NOW, model.PATTERN_WEEKS_MAX + 1, "Asia/Shanghai")
    with pytest.raises(errors.InvalidSlot):
        model.check_slot(datetime(9999, 12, 31, 23, tzinfo=timezone.utc), datetime(9999, 12, 31, 23, 30,
                         tzinfo=timezone.utc), 1, 0, 0, NOW)
    with pytest.raises(ledger_errors.InvalidTimestamp):
        model.check_slot(datetime(2027, 1, 1), datetime(2027, 1, 1, 1), 1, 0, 0, NOW)


def test_week_of_is_monday_to_monday_in_the_realm():
    start, end = model.week_of(datetime(2026, 12, 2, 20, 0, tzinfo=timezone.utc), "Asia/Shanghai")  # Thu 04:00 local
    assert (start.isoformat(), end.isoformat()) == ("2026-11-29T16:00:00+00:00", "2026-12-06T16:00:00+00:00")


def test_resources_need_one_place_and_priced_priority():
    base = {"kind": "health", "title": " 体检 ", "scope": "realm", "online": True}
    assert model.check_resource(base, True)["title"] == "体检"
    with pytest.raises(errors.InvalidResource):
        model.check_resource({**base, "station_id": 1}, True)
    with pytest.raises(errors.InvalidResource):
        model.check_resource({**base, "priority_places": 2}, True)
    with pytest.raises(errors.PriorityNeedsMerchant):
        model.check_resource({**base, "priority_price": 5}, False)
    with pytest.raises(ledger_errors.InvalidCursor):
        model.decode_cursor(model.encode_cursor(2**63))
