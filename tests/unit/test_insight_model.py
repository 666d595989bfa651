"""Insight and notify, pure: masked names, leaderboard lines for other residents, star
levels, month ranges, derived indicators; retry schedule, delivery states, URLs, filters,
inbox titles."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from insight import errors, model
from notify import errors as notify_errors
from notify import model as notify_model


@pytest.mark.parametrize("name, masked", [("张三", "张*"), ("欧阳娜娜", "欧***"), ("李", "李*"), (None, "居民"),
                                          ("Alice", "A****")])
def test_names_are_masked_to_their_first_character(name, masked):
    assert model.mask_name(name) == masked


@given(st.text(min_size=1, max_size=30))
def test_a_masked_name_never_shows_more_than_its_first_character(name):
    masked = model.mask_name(name)
    assert masked[0] == name[0] and set(masked[1:]) == {"*"}


def test_another_residents_leaderboard_line_carries_no_code_id_or_phone():
    row = {"rank": 2, "resident_id": 7, "code": "R007", "display_name": "王五", "name_public": False,
           "station_id": 3, "points": 40, "minutes": 90, "activities": 2, "phone": "13800000000"}
    seen = model.public_leaderboard_row(row, viewer_id=8)
    assert seen == {"rank": 2, "name": "王*", "me": False, "station_id": 3, "points": 40, "minutes": 90,
                    "activities": 2}
    assert model.public_leaderboard_row({**row, "name_public": True}, 8)["name"] == "王五"
    assert model.public_leaderboard_row(row, 7)["name"] == "王五" and model.public_leaderboard_row(row, 7)["me"]


@pytest.mark.parametrize("hours, level, following", [(0, 0, 100), (99.99, 0, 100), (100, 1, 300), (299, 1, 300),
                                                      (1000, 4, 1500), (1500, 5, None), (9999, 5, None)])
def test_star_levels_by_the_national_thresholds(hours, level, following):
    found = model.star_level(hours, model.DEFAULT_STAR_HOURS)
    assert (found.level, found.next_level_hours) == (level, following)


@pytest.mark.parametrize("hours", [[1, 2, 3, 4], [5, 4, 6, 7, 8], [1, 1, 2, 3, 4], [0, 1, 2, 3, 4],
                                   [1, 2, 3, 4, 100_001], [1, 2, 3, 4, True]])
def test_star_thresholds_rise_strictly(hours):
    with pytest.raises(errors.InvalidStarThresholds):
        model.check_thresholds(hours)


def test_month_ranges():
    today = date(2026, 11, 30)
    assert model.month_range(None, None, today)[0] == date(2025, 12, 1)
    assert model.month_range("2026-01", "2026-03", today) == [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    for bad in ("2026", "26-01", "2026-00", "x"):
        with pytest.raises(errors.InvalidMonth):
            model.month_range(bad, None, today)
    with pytest.raises(errors.MonthRangeTooLong):
        model.month_range("2020-01", "2026-01", today)


def test_derived_indicators():
    row = model.derive("1", "站", date(2026, 11, 1), 40, {"active": 10, "minutes": 150, "volunteer_minutes": 90,
                                                        "spent_general": 30, "spent_agri_shop": 10,
                                                        "rating_activity_sum": 9, "rating_activity_count": 2,
                                                        "requests_completed": 2, "request_complete_s_sum": 7200})
    assert row["participation_rate"] == 0.25 and row["hours"] == 2.5 and row["volunteer_hours"] == 1.5
    assert row["spent"] == 40 and row["agri_share"] == 0.25 and row["rating_activities"] == 4.5
    assert row["rating_requests"] is None and row["hours_to_complete"] == 1.0
    assert model.derive("1", "站", date(2026, 11, 1), 0, {})["participation_rate"] is None


def test_months_left():
    assert model.months_left(600, [100, 200, 300]) == 3.0
    assert model.months_left(600, [0, 0, 0]) is None


def test_retry_schedule_doubles_to_an_hour_and_gives_up_after_its_window():
    assert [notify_model.retry_delay_s(n) for n in (1, 2, 3)] == [5.0, 10.0, 20.0]
    assert notify_model.retry_delay_s(40) == notify_model.RETRY_DELAY_MAX_S
    now = datetime(2026, 11, 30, tzinfo=timezone.utc)
    failed = notify_model.Outcome(503, None, 10)
    assert notify_model.next_state(notify_model.Outcome(204, None, 10), 1, now, now) == ("delivered", now)
    assert notify_model.next_state(failed, 1, now, now + timedelta(hours=24)) == ("pending", now + timedelta(seconds=5))
    assert notify_model.next_state(failed, 1, now, now + timedelta(seconds=4))[0] == "failed"
    assert not notify_model.Outcome(None, "refused", 3).delivered and not notify_model.Outcome(302, None, 3).delivered


def test_a_day_of_retries_takes_fewer_than_forty_attempts():
    elapsed, attempts = 0.0, 0
    while elapsed <= notify_model.RETRY_WINDOW.total_seconds():
        attempts += 1
        elapsed += notify_model.retry_delay_s(attempts)
    assert 20 <= attempts < 40


@pytest.mark.parametrize("url", ["ftp://a.example/", "http://", "https:///x", "http://a b/", "javascript:alert(1)",
                                 "http://a.example/" + "x" * 2000])
def test_webhook_urls_are_http_with_a_host(url):
    with pytest.raises(notify_errors.InvalidWebhookUrl):
        notify_model.check_url(url)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/hook", "http://localhost/hook", "https://api.localhost/x", "http://10.1.2.3/",
    "http://192.168.0.9/", "http://172.16.5.5/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/",
    "http://[::ffff:127.0.0.1]/", "http://[fd00::1]/", "http://100.64.0.1/", "http://0.0.0.0/",
    "http://224.0.0.1/", "http://LOCALHOST./"])
def test_webhook_urls_may_not_name_this_machine_or_a_private_network(url):
    with pytest.raises(notify_errors.InvalidWebhookUrl, match="public host"):
        notify_model.check_url(url)
    assert notify_model.check_url(url, private_allowed=True) == url


@pytest.mark.parametrize("url", ["https://hooks.example.org/x", "http://8.8.8.8/", "https://[2001:4860::8888]/",
                                 "https://county.gov.cn:8443/hook"])
def test_public_webhook_urls_are_taken(url):
    assert notify_model.check_url(url) == url


def test_event_filters_name_known_types():
    assert notify_model.check_event_filter(["voucher.issued", "points.earned", "points.earned"]) == [
        "points.earned", "voucher.issued"]
    with pytest.raises(notify_errors.InvalidEventFilter):
        notify_model.check_event_filter(["points.spent"])
    assert notify_model.matches([], "rating.low") and not notify_model.matches(["points.earned"], "rating.low")


def test_inbox_titles_in_both_languages_and_a_fallback():
    assert notify_model.title("points.earned", {"amount": 5}) == "获得积分 5 分"
    assert notify_model.title("points.earned", {"amount": 5}, "en") == "You earned 5 points"
    assert notify_model.title("points.earned", {}) == "新消息：points.earned"        # a payload without the field
    assert notify_model.title("service_request.opened", {}, "en") == "New: service_request.opened"
