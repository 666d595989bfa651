"""`pointsbank import-attendance FILE.csv`: the file, a progress line, a per-row report."""
from __future__ import annotations

import csv
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from api.app import Services
from earning import model

IMPORT_ACTOR = "cli:import-attendance"
REPORT_COLUMNS = ("row", "resident", "activity_id", "points", "entry_id", "code", "status")
# The report's words for each row's outcome (the `code` column keeps the stable code).
ROW_STATUS = {
    "awarded": "已发放", "already_awarded": "此前已发放，未重复发放",
    "unknown_activity": "没有这个活动编号", "unknown_resident": "没有这位居民",
    "invalid_activity_id": "活动编号不是数字", "invalid_resident_id": "居民编号或代码写错了",
    "invalid_minutes": "时长（分钟）没有填数字", "minutes_out_of_range": "时长（分钟）超出范围",
    "duplicate_record": "与前面的行重复",
    "daily_cap_reached": "今天此类活动的积分已达上限",
    "no_points_earned": "按规则这一行得 0 分（不足一小时且规则没有基础分）", "budget_exhausted": "积分预算已用完",
    "activity_not_started": "活动还没有开始", "row_unreadable": "这一行读不出来（某一格太长或引号不成对）",
    "ambiguous_resident": "这个数字既是一位居民的编号又是另一位居民的代码；请用 居民代码 列",
}
EXIT_ROWS_REFUSED = 4   # the import ran, and some rows were refused (see the report)
PROGRESS_INTERVAL_S = 0.2


class Progress:
    """`imported 3000/10000 rows (30%)` on stderr, redrawn in place on a terminal."""

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total, self.done, self.stream = max(total, 1), 0, stream
        self.live = stream.isatty()
        self.shown_at = 0.0

    def advance(self, rows: int) -> None:
        self.done += rows
        now = time.monotonic()
        if self.live and now - self.shown_at >= PROGRESS_INTERVAL_S:
            self.shown_at = now
            self.stream.write(f"\r{self.line()}")
            self.stream.flush()

    def line(self) -> str:
        percent = min(100, self.done * 100 // self.total)
        bar = "#" * (percent // 5)
        return f"imported {self.done}/{self.total} rows [{bar:<20}] {percent}%"

    def finish(self) -> None:
        self.stream.write(("\r" if self.live else "") + self.line() + "\n")


def row_status(code: str) -> str:
    return ROW_STATUS.get(code, f"未发放（{code}）")


def report_row(result: dict[str, Any]) -> list[Any]:
    if "error" in result:
        return [result["n"], result["resident"], result.get("activity_id", ""), "", "",
                result["error"], row_status(result["error"])]
    code = "already_awarded" if result["replayed"] else "awarded"
    return [result["n"], result["resident"], result["activity_id"], result["points"],
            result["entry_id"], code, row_status(code)]


def summary_line(summary: dict[str, int]) -> str:
    return (f"共 {summary['rows']} 行：发放 {summary['awarded']} 行（{summary['points']} 分），"
            f"此前已发放 {summary['already_awarded']} 行，未发放 {summary['refused']} 行")


async def import_attendance(services: Services, path: str, report_path: str | None) -> int:
    text = model.decode_csv(Path(path).read_bytes())
    model.parse_csv(text)  # a missing header or column is refused before any report
    progress = Progress(sum(1 for line in text.splitlines()[1:] if line.strip()))
    out = open(report_path, "w", newline="", encoding="utf-8") if report_path else sys.stdout
    try:
        writer = csv.writer(out)
        writer.writerow(REPORT_COLUMNS)

        def on_chunk(results: list[dict[str, Any]]) -> None:
            writer.writerows(report_row(result) for result in results)
            out.flush()
            progress.advance(len(results))

        summary = await services.earning.import_attendance(text, IMPORT_ACTOR, on_chunk)
    finally:
        if report_path:
            out.close()
    progress.finish()
    print(summary_line(summary), file=sys.stderr)
    if summary["refused"]:
        where = report_path or "the report above"
        print(f"{summary['refused']} row(s) refused: see the status column in {where}", file=sys.stderr)
        return EXIT_ROWS_REFUSED
    return 0
