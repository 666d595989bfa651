from datetime import date

import pytest

from earning import errors, model
from ledger import errors as ledger_errors

SEED = {code: model.Rule("civic", base, 2, 240, 100) for code, base in model.DEFAULT_BASE_POINTS.items()}


def test_seed_catalogue_points():
    assert model.award_points(SEED["talk"], 30) == 10
    assert model.award_points(SEED["volunteering"], 120) == 24
    assert model.award_points(SEED["training"], 179) == 15 + 2 * 2
    assert model.award_points(SEED["other"], 600) == 5 + 2 * 4  # 4 creditable hours


@pytest.mark.parametrize("minutes", [0, -5, model.MINUTES_PER_RECORD_MAX + 1])
def test_minutes_out_of_range(minutes):
    with pytest.raises(errors.MinutesOutOfRange):
        model.award_points(SEED["talk"], minutes)


def test_rule_checks():
    with pytest.raises(errors.UnknownAsset):
        model.check_rule(model.Rule("gold", 1, 1, 60, 10))
    with pytest.raises(errors.InvalidRule):
        model.check_rule(model.Rule("civic", 0, 0, 60, 10))
    with pytest.raises(errors.InvalidRule):
        model.check_rule(model.Rule("civic", 5, 2, 60, 0))


def test_periods():
    today = date(2026, 2, 14)
    assert model.period_days(None, today) == (date(2026, 2, 1), date(2026, 2, 28))
    assert model.period_days("2026", today) == (date(2026, 1, 1), date(2026, 12, 31))
    assert model.period_days("2026-11-28", today) == (date(2026, 11, 28), date(2026, 11, 28))
    for bad in ("2026-13", "26", "last-week"):
        with pytest.raises(errors.InvalidPeriod):
            model.period_days(bad, today)


def test_cursor_round_trip_and_refusal():
    assert model.decode_cursor(model.encode_cursor(42)) == 42
    with pytest.raises(ledger_errors.InvalidCursor):
        model.decode_cursor("not-a-cursor")


def test_csv_with_bom_and_chinese_headers():
    raw = "\ufeff活动编号,居民编号,时长(分钟)\n7,1001,90\n7,abc,30\n\n7,1002,-3\n".encode()
    rows = list(model.parse_csv(model.decode_csv(raw)))
    assert rows[0].record == model.Record(2, 7, 1001, 90)
    assert rows[1].error == "invalid_resident_id" and rows[1].n == 3
    assert rows[2].record == model.Record(5, 7, 1002, -3)


def test_csv_refuses_broken_encoding_and_missing_column():
    with pytest.raises(errors.CsvEncodingInvalid):
        model.decode_csv("活动编号,居民编号,分钟\n".encode("gbk"))
    with pytest.raises(errors.CsvColumnMissing):
        model.parse_csv("activity_id,resident_id\n1,2\n")


def test_chunks_split_by_size():
    rows = [model.CsvRow(n, None, "x") for n in range(2501)]
    assert [len(c) for c in model.chunks(rows, 1000)] == [1000, 1000, 501]
