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


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_reads_utf8_gbk_and_gb18030(encoding):
    raw = "活动编号,居民代码,时长（分钟）\n7,DEMO1001,90\n7,1234,30\n".encode(encoding)
    rows = list(model.parse_csv(model.decode_csv(raw)))
    assert [row.resident_code for row in rows] == ["DEMO1001", "1234"]
    assert [row.record for row in rows] == [None, None]  # a code header: codes, even all-digit ones


def test_csv_resident_codes_resolve_in_the_activitys_realm():
    rows = list(model.parse_csv("activity_id,resident,minutes\n7,DEMO1001,90\n7,1001,30\n7,1002,30\n"
                                "7,NOBODY9,30\n8,DEMO1001,30\n"))
    realms = {7: "430104"}
    ids = {("430104", "DEMO1001"): 5, ("430104", "1001"): 1001, ("430104", "1002"): 77}
    resolved = [model.resolve_code(row, realms, ids) for row in rows]
    assert resolved[0].record == model.Record(2, 7, 5, 90)
    assert resolved[1].record == model.Record(3, 7, 1001, 30)       # id 1001 is also its own code
    assert resolved[2].error == model.AMBIGUOUS_RESIDENT             # id 1002, yet code of resident 77
    assert resolved[3].error == "unknown_resident"
    assert resolved[4].error == "unknown_activity"


def test_a_field_over_the_csv_limit_refuses_that_row_only():
    text = "activity_id,resident_id,minutes\n7,\"" + "x" * 200_000 + "\",30\n7,1001,60\n"
    rows = list(model.parse_csv(text))
    assert rows[0].error == model.ROW_UNREADABLE and rows[0].n == 2
    assert rows[1].record == model.Record(3, 7, 1001, 60)


def test_csv_refuses_broken_encoding_and_missing_column():
    with pytest.raises(errors.CsvEncodingInvalid):
        model.decode_csv(b"\xff\xfe\x00\x81\x30\xff\xff")
    with pytest.raises(errors.CsvColumnMissing):
        model.parse_csv("activity_id,resident_id\n1,2\n")


def test_chunks_split_by_size():
    rows = [model.CsvRow(n, None, "x") for n in range(2501)]
    assert [len(c) for c in model.chunks(rows, 1000)] == [1000, 1000, 501]
