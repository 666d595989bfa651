"""The award calculation: exact at hour boundaries, monotone in duration, capped, never
negative. The cap and the per-record refusals are checked on their reference model
(`earning/reference.py`); tests/integration/test_rule_differential.py ties it to the SQL."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from earning import model, reference

rules = st.builds(model.Rule, asset=st.sampled_from(["civic", "agri"]),
                  base_points=st.integers(0, model.BASE_POINTS_MAX),
                  points_per_hour=st.integers(0, model.POINTS_PER_HOUR_MAX),
                  creditable_minutes_max=st.integers(1, model.MINUTES_PER_RECORD_MAX),
                  daily_cap_points=st.integers(1, model.DAILY_CAP_POINTS_MAX))
minutes = st.integers(1, model.MINUTES_PER_RECORD_MAX)


@settings(max_examples=200)
@given(rules, st.integers(1, 23))
def test_exact_at_hour_boundaries(rule, hours):
    at = hours * 60
    if at <= rule.creditable_minutes_max:
        assert model.award_points(rule, at) == rule.base_points + rule.points_per_hour * hours
        assert model.award_points(rule, at - 1) == rule.base_points + rule.points_per_hour * (hours - 1)


@settings(max_examples=200)
@given(rules, minutes, minutes)
def test_never_decreasing_in_duration(rule, a, b):
    shorter, longer = sorted((a, b))
    assert model.award_points(rule, shorter) <= model.award_points(rule, longer)


@settings(max_examples=200)
@given(rules, minutes)
def test_capped_by_creditable_duration(rule, spent):
    ceiling = rule.base_points + rule.points_per_hour * (rule.creditable_minutes_max // 60)
    assert rule.base_points <= model.award_points(rule, spent) <= ceiling


@settings(max_examples=200)
@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(1, 10**5))
def test_daily_cap_never_negative_never_past_cap(points, earned_today, cap):
    paid = reference.capped_points(points, earned_today, cap)
    assert 0 <= paid <= points
    assert earned_today + paid <= max(cap, earned_today)
    if earned_today + points <= cap:
        assert paid == points


@settings(max_examples=100)
@given(st.lists(st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(-5, 2000)), max_size=40))
def test_record_errors_flag_bad_minutes_and_repeats_only(rows):
    records = [model.Record(n, a, r, m) for n, (a, r, m) in enumerate(rows, start=1)]
    refused = reference.record_errors(records)
    kept = [r for r in records if r.n not in refused]
    assert len({(r.activity_id, r.resident_id) for r in kept}) == len(kept)
    assert all(1 <= r.minutes <= model.MINUTES_PER_RECORD_MAX for r in kept)
    for record in records:
        if refused.get(record.n) == reference.DUPLICATE_RECORD:
            assert any((r.activity_id, r.resident_id) == (record.activity_id, record.resident_id)
                       for r in kept if r.n < record.n)
