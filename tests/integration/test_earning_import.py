"""`pointsbank import-attendance` on a generated 10,000-row file: chunked commits, a
per-row report, and a re-run that awards nothing twice."""
from __future__ import annotations

import csv
import io

import pytest

from api import cli
from tests.integration.earning_fixtures import make_place, past_activity

RESIDENTS = 2_000
TYPES = ("talk", "volunteering", "training", "other", "talk")


@pytest.fixture
async def import_setup(earning, realm):
    place = await make_place(earning, realm, residents=0, fund=10_000_000)
    residents = await earning.register_residents(
        realm, place.station_id, [f"I{realm}{i:06d}" for i in range(RESIDENTS)])
    activities = [await past_activity(earning, place, activity_type=t, hours_ago=3) for t in TYPES]
    return place, residents, activities


def run_import(path, report, database_url, monkeypatch, tmp_path) -> int:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("POINTSBANK_DATA_DIR", str(tmp_path / "data"))
    return cli.main(["import-attendance", str(path), "--report", str(report)])


def test_ten_thousand_rows_import_in_chunks_and_rerun_awards_nothing(
        import_setup, database_url, monkeypatch, tmp_path, owner_conn):
    place, residents, activities = import_setup
    rows = [(a["id"], r, 61 + (r % 120)) for a in activities for r in residents]
    assert len(rows) == 10_000
    path = tmp_path / "attendance.csv"
    path.write_bytes(("\ufeff活动编号,居民编号,时长(分钟)\n"
                      + "".join(f"{a},{r},{m}\n" for a, r, m in rows)).encode("utf-8"))

    assert run_import(path, tmp_path / "first.csv", database_url, monkeypatch, tmp_path) == 0
    first = list(csv.DictReader(io.StringIO((tmp_path / "first.csv").read_text())))
    assert len(first) == 10_000 and {r["code"] for r in first} == {"awarded"}
    assert {r["status"] for r in first} == {"已发放"}
    points = sum(int(r["points"]) for r in first)
    budget = owner_conn.execute(
        "SELECT balance FROM accounts WHERE realm = %s AND kind = 'budget' AND asset = 'civic'",
        (place.realm,)).fetchone()[0]
    assert budget == 10_000_000 - points
    transactions = owner_conn.execute(
        "SELECT count(DISTINCT created_txid) FROM entries WHERE realm = %s AND kind = 'earn'",
        (place.realm,)).fetchone()[0]
    assert transactions >= 10  # chunks of at most 1,000 rows, each committed alone

    assert run_import(path, tmp_path / "again.csv", database_url, monkeypatch, tmp_path) == 0
    again = list(csv.DictReader(io.StringIO((tmp_path / "again.csv").read_text())))
    assert {r["code"] for r in again} == {"already_awarded"}
    assert [r["entry_id"] for r in again] == [r["entry_id"] for r in first]
    owner_conn.commit()
    assert owner_conn.execute(
        "SELECT balance FROM accounts WHERE realm = %s AND kind = 'budget' AND asset = 'civic'",
        (place.realm,)).fetchone()[0] == budget


def test_bad_rows_are_reported_per_row(import_setup, database_url, monkeypatch, tmp_path):
    place, residents, activities = import_setup
    path = tmp_path / "bad.csv"
    path.write_text("activity_id,resident_id,minutes\n"
                    f"{activities[0]['id']},{residents[0]},60\n"
                    f"{activities[0]['id']},{residents[0]},60\n"
                    f"{activities[0]['id']},999999999,60\n"
                    f"999999999,{residents[1]},60\n"
                    f"{activities[0]['id']},{residents[2]},0\n"
                    f"{activities[0]['id']},x,60\n"
                    f"{activities[0]['id']},NOBODY99,60\n", encoding="utf-8")
    assert run_import(path, tmp_path / "report.csv", database_url, monkeypatch, tmp_path) == cli.EXIT_ROWS_REFUSED
    report = list(csv.DictReader(io.StringIO((tmp_path / "report.csv").read_text())))
    assert [(r["row"], r["code"]) for r in report] == [
        ("2", "awarded"), ("3", "duplicate_record"), ("4", "unknown_resident"),
        ("5", "unknown_activity"), ("6", "minutes_out_of_range"), ("7", "invalid_resident_id"),
        ("8", "unknown_resident")]
    assert report[1]["status"] == "与前面的行重复" and report[6]["status"] == "没有这位居民"


def test_a_gbk_file_naming_residents_by_code_awards_them(import_setup, database_url, monkeypatch,
                                                         tmp_path, capsys):
    place, residents, activities = import_setup
    path = tmp_path / "excel.csv"
    path.write_bytes(("活动编号,居民代码,时长（分钟）\n"
                      f"{activities[1]['id']},I{place.realm}000003,60\n").encode("gbk"))
    assert run_import(path, tmp_path / "report.csv", database_url, monkeypatch, tmp_path) == 0
    report = list(csv.DictReader(io.StringIO((tmp_path / "report.csv").read_text())))
    assert [(r["resident"], r["code"], r["status"]) for r in report] == [
        (f"I{place.realm}000003", "awarded", "已发放")]
    assert "发放 1 行" in capsys.readouterr().err


def test_broken_encoding_and_missing_column_are_refused(database_url, monkeypatch, tmp_path, capsys):
    gbk = tmp_path / "binary.csv"
    gbk.write_bytes(b"\xff\xfe\x00\x81\x30\xff\xff\n")
    assert run_import(gbk, tmp_path / "r.csv", database_url, monkeypatch, tmp_path) == cli.EXIT_USAGE
    assert "csv_encoding_invalid" in capsys.readouterr().err
    missing = tmp_path / "missing.csv"
    missing.write_text("activity_id,resident_id\n1,2\n", encoding="utf-8")
    assert run_import(missing, tmp_path / "r.csv", database_url, monkeypatch, tmp_path) == cli.EXIT_USAGE
    assert "csv_column_missing" in capsys.readouterr().err
