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
REPORT_COLUMNS = ("row", "resident", "activity_id", "points", "entry_id", "status")
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


def report_row(result: dict[str, Any]) -> list[Any]:
    if "error" in result:
        return [result["n"], result["resident"], result.get("activity_id", ""), "", "", result["error"]]
    status = "already_awarded" if result["replayed"] else "awarded"
    return [result["n"], result["resident"], result["activity_id"], result["points"],
            result["entry_id"], status]


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
    print(", ".join(f"{name} {count}" for name, count in summary.items()), file=sys.stderr)
    return 0
