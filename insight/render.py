"""Renderings: the indicator report as CSV (UTF-8 with a BOM, so Excel shows the Chinese
headings) and XLSX (xlsxwriter), and the 文明实践之星 certificate as an A4 landscape PDF
(fpdf2 with the CJK font from `ledger.fonts`, English when the machine has none)."""
from __future__ import annotations

import csv
import io
from typing import Any

from insight import model
from ledger.fonts import cjk_font_path

CSV_BOM = "\ufeff"
A4_LANDSCAPE_MM = (297.0, 210.0)
CERTIFICATE_MARGIN_MM = 20.0


def report_csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    out.write(CSV_BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([f"{heading} {key}" for key, heading in model.COLUMNS])
    for row in rows:
        writer.writerow(["" if row[key] is None else row[key] for key, _ in model.COLUMNS])
    return out.getvalue().encode("utf-8")


def report_xlsx(rows: list[dict[str, Any]], title: str) -> bytes:
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet("indicators")
    bold = book.add_format({"bold": True})
    sheet.write(0, 0, title, bold)
    for column, (key, heading) in enumerate(model.COLUMNS):
        sheet.write(1, column, f"{heading}\n{key}", bold)
    for line, row in enumerate(rows, start=2):
        for column, (key, _) in enumerate(model.COLUMNS):
            if row[key] is not None:
                sheet.write(line, column, row[key])
    sheet.freeze_panes(2, 3)
    book.close()
    return out.getvalue()


def certificate_pdf(recognition: dict[str, Any]) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(orientation="L", format="A4", unit="mm")
    pdf.set_auto_page_break(False)
    font = cjk_font_path()
    chinese = font is not None
    if chinese:
        pdf.add_font("cjk", fname=font)
    pdf.set_margins(CERTIFICATE_MARGIN_MM, CERTIFICATE_MARGIN_MM)
    pdf.add_page()
    width = A4_LANDSCAPE_MM[0] - 2 * CERTIFICATE_MARGIN_MM
    pdf.set_draw_color(180, 30, 30)
    pdf.set_line_width(2)
    pdf.rect(10, 10, A4_LANDSCAPE_MM[0] - 20, A4_LANDSCAPE_MM[1] - 20)
    name = recognition["display_name"] or ("居民" if chinese else "Resident")
    lines = ([(34, "荣誉证书"), (18, f"{name}  同志："),
              (14, f"被评为 {recognition['year']} 年度「{recognition['title']}」。"),
              (12, recognition["citation"]), (12, f"{recognition['realm_name']}  {recognition['station_name']}"),
              (10, f"证书编号 PB-{recognition['realm']}-{recognition['id']}  "
                   f"{recognition['created_at']:%Y-%m-%d}")]
             if chinese else
             [(30, "Certificate of Honour"), (18, f"{recognition['year']} Civilization Practice Star"),
              (12, f"Resident {recognition['resident_id']}, realm {recognition['realm']}"),
              (10, f"Certificate PB-{recognition['realm']}-{recognition['id']}  {recognition['created_at']:%Y-%m-%d}")])
    pdf.set_y(30)
    for size, line in lines:
        if chinese:
            pdf.set_font("cjk", size=size)
        else:
            pdf.set_font("helvetica", size=size)
        pdf.multi_cell(width, size * 0.6, line, align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(size * 0.4)
    return bytes(pdf.output())
