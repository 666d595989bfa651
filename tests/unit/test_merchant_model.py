"""The merchants' pure rules: catalogue items, periods, cut-offs, yuan, statements."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings, strategies as st

from ledger import errors as ledger_errors, paging
from merchants import errors, model

UTC = timezone.utc
SHANGHAI = "Asia/Shanghai"


def test_an_item_needs_a_whole_positive_price_and_agri_only_at_agri_shops():
    model.check_item("general", "大米", None, 100, "civic", 5, None, None)
    for price in (0, -1, 1.5, "10", None, True, model.ITEM_PRICE_POINTS_MAX + 1):
        with pytest.raises(errors.InvalidPrice):
            model.check_item("general", "大米", None, price, "civic", None, None, None)
    with pytest.raises(errors.AgriNeedsAgriShop):
        model.check_item("general", "菜", None, 5, "agri", None, None, None)
    model.check_item("agri_shop", "菜", None, 5, "agri", None, None, None)
    with pytest.raises(errors.InvalidCatalogueItem):
        model.check_item("general", "x", None, 5, "civic", -1, None, None)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(errors.InvalidCatalogueItem):
        model.check_item("general", "x", None, 5, "civic", None, start, start)
    with pytest.raises(ledger_errors.InvalidTimestamp):
        model.check_item("general", "x", None, 5, "civic", None, datetime(2026, 1, 1), None)


def test_availability_says_why_an_item_cannot_be_taken():
    now = datetime(2026, 6, 1, tzinfo=UTC)
    item = {"id": 1, "merchant_id": 2, "active": True, "active_from": None, "active_until": None, "stock": 1}
    assert model.availability_refusal(item, "active", now) is None
    assert isinstance(model.availability_refusal({**item, "stock": 0}, "active", now), errors.OutOfStock)
    assert model.availability_refusal({**item, "stock": None}, "active", now) is None
    assert isinstance(model.availability_refusal(item, "closed", now), errors.MerchantNotActive)
    assert isinstance(model.availability_refusal({**item, "active": False}, "active", now), errors.ItemNotAvailable)
    assert isinstance(model.availability_refusal({**item, "active_until": now}, "active", now), errors.ItemNotAvailable)


def test_a_date_cut_off_is_the_next_local_midnight():
    cutoff = model.cutoff_of(date(2026, 11, 27), SHANGHAI)
    assert cutoff == datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
    exact = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
    assert model.cutoff_of(exact, SHANGHAI) == exact
    with pytest.raises(ledger_errors.InvalidTimestamp):
        model.cutoff_of(datetime(2026, 11, 27), SHANGHAI)


def test_periods_follow_each_other_without_gap_or_overlap():
    created = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
    previous = datetime(2026, 2, 28, 16, 0, tzinfo=UTC)       # through 2026-02-28 local
    assert model.period_start(None, created, None, SHANGHAI) == created
    assert model.period_start(previous, created, date(2026, 3, 1), SHANGHAI) == previous
    with pytest.raises(errors.PeriodOverlaps):
        model.period_start(previous, created, date(2026, 2, 1), SHANGHAI)
    with pytest.raises(errors.PeriodGap):
        model.period_start(previous, created, date(2026, 3, 5), SHANGHAI)
    now = datetime(2026, 4, 1, tzinfo=UTC)
    model.check_period(previous, previous + timedelta(days=31), previous, now)
    with pytest.raises(errors.PeriodOverlaps):
        model.check_period(previous, previous - timedelta(days=1), previous, now)
    with pytest.raises(errors.PeriodFuture):
        model.check_period(previous, now + timedelta(seconds=1), previous, now)
    with pytest.raises(errors.InvalidPeriod):
        model.check_period(created, created, None, now)


@settings(max_examples=200)
@given(st.integers(min_value=-10**15, max_value=10**15))
def test_yuan_is_exact(fen):
    text = model.yuan(fen)
    whole, _, cents = text.lstrip("-").partition(".")
    assert len(cents) == 2
    assert (int(whole) * 100 + int(cents)) * (-1 if text.startswith("-") else 1) == fen


def statement(points=(10, 20)) -> dict:
    lines = [{"entry_id": i, "kind": "capture", "asset": "civic", "voucher_serial": f"{i:032x}",
              "reference": f"voucher:{i:032x}", "time": "2026-11-27T01:00:00+00:00", "points": p}
             for i, p in enumerate(points, start=1)]
    return model.statement({"code": "430104", "name": "岳麓区", "timezone": SHANGHAI},
                           {"id": 3, "name": "供销超市", "kind": "general"},
                           datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 27, 16, tzinfo=UTC), 10,
                           lines, [], 99, datetime(2026, 11, 28, tzinfo=UTC))


def test_statement_totals_and_a_canonical_form_independent_of_key_order():
    document = statement()
    assert document["totals"]["points"] == 30 and document["totals"]["amount_fen"] == 300
    assert document["totals"]["amount_yuan"] == "3.00"
    assert document["period"]["end_local"].startswith("2026-11-28T00:00:00+08:00")
    reordered = dict(reversed(list(document.items())))
    assert model.canonical(reordered) == model.canonical(document)
    assert "供销超市".encode() in model.canonical(document)


@settings(max_examples=50)
@given(st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=8), st.data())
def test_any_edit_to_a_line_changes_the_digest(points, data):
    document = statement(tuple(points))
    index = data.draw(st.integers(min_value=0, max_value=len(points) - 1))
    edited = statement(tuple(p + (1 if i == index else 0) for i, p in enumerate(points)))
    assert model.statement_digest(edited) != model.statement_digest(document)


def test_cursors_round_trip_and_refuse_forgeries():
    assert model.decode_rank_cursor(model.encode_rank_cursor(0, 42)) == (0, 42)
    assert model.decode_month_cursor(model.encode_month_cursor("2026-11", "agri")) == ("2026-11", "agri")
    old_form = paging.encode_parts("mo1", "2026-11")      # before the asset joined the cursor
    assert model.decode_month_cursor(old_form) == ("2026-11", None)
    for bad in ("2026-11", model.encode_cursor(3), paging.encode_parts("mo1", "2026-11", "gold")):
        with pytest.raises(ledger_errors.InvalidCursor):
            model.decode_month_cursor(bad)
    for bad in ("zz", model.encode_cursor(3), model.encode_rank_cursor(7, 1)):
        with pytest.raises(ledger_errors.InvalidCursor):
            model.decode_rank_cursor(bad)


def test_payments_need_a_reference_and_no_future_date():
    model.check_payment("ICBC-1", date(2026, 1, 1), date(2026, 1, 1))
    with pytest.raises(errors.InvalidPayment):
        model.check_payment("  ", date(2026, 1, 1), date(2026, 1, 1))
    with pytest.raises(errors.InvalidPayment):
        model.check_payment("X", date(2026, 1, 2), date(2026, 1, 1))
    with pytest.raises(errors.InvalidRate):
        model.check_rate(0)
