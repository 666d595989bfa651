"""Renderings of a signed settlement statement: CSV (UTF-8 with a BOM, so Excel shows the
Chinese text) and an A4 PDF in Chinese (fpdf2; the CJK font from `ledger.fonts`, with an
English fallback when the machine has none). Both are made from the stored statement;
the JSON statement, its SHA-256 and signature are the authority."""
from __future__ import annotations

import base64
import csv
import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ledger.assets import ASSET_NAMES
from ledger.fonts import cjk_font_path

CSV_BOM = "\ufeff"
A4_MM = (210.0, 297.0)
PDF_MARGIN_MM = 12.0
PDF_LINE_MM = 6.0
KIND_NAMES = {"capture": "兑换", "clear": "跨区兑换", "adjustment": "调整"}


def chinese_asset(asset: str) -> str:
    name = ASSET_NAMES.get(asset)
    return name.chinese if name else asset


def _local(moment: str, tz_name: str) -> str:
    return datetime.fromisoformat(moment).astimezone(ZoneInfo(tz_name)).strftime("%Y-%m-%d %H:%M:%S")


def statement_csv(settlement: dict[str, Any]) -> bytes:
    document = settlement["statement"]
    tz_name = document["realm"]["timezone"]
    out = io.StringIO()
    out.write(CSV_BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    totals = document["totals"]
    writer.writerow(["结算单 settlement", settlement["id"]])
    writer.writerow(["地区 realm", document["realm"]["code"], document["realm"]["name"]])
    writer.writerow(["商家 merchant", document["merchant"]["id"], document["merchant"]["name"]])
    writer.writerow(["期间 period (start, cut-off)", _local(document["period"]["start"], tz_name),
                     _local(document["period"]["end"], tz_name)])
    writer.writerow(["费率 fen per point", document["rate_fen_per_point"]])
    writer.writerow(["合计积分 points", totals["points"]])
    writer.writerow(["金额(元) amount (yuan)", totals["amount_yuan"]])
    writer.writerow(["SHA-256", settlement["statement_sha256"].hex()])
    writer.writerow(["签名 signature (Ed25519, base64)", base64.b64encode(settlement["signature"]).decode(),
                     "key", settlement["key_id"]])
    writer.writerow([])
    writer.writerow(["时间 time", "券号 voucher serial", "类型 kind", "积分类型 asset", "积分 points", "分录 entry"])
    for line in document["lines"]:
        writer.writerow([_local(line["time"], tz_name), line["voucher_serial"] or line["reference"] or "",
                         KIND_NAMES.get(line["kind"], line["kind"]), chinese_asset(line["asset"]),
                         line["points"], line["entry_id"]])
    return out.getvalue().encode("utf-8")


def statement_pdf(settlement: dict[str, Any]) -> bytes:
    """A4 pages: header (realm, merchant, period, rate, totals in points and yuan), every
    line, and the SHA-256 and signature for checking."""
    from fpdf import FPDF

    document = settlement["statement"]
    tz_name = document["realm"]["timezone"]
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_auto_page_break(True, margin=PDF_MARGIN_MM)
    pdf.set_margins(PDF_MARGIN_MM, PDF_MARGIN_MM)
    font = cjk_font_path()
    chinese = font is not None
    if chinese:
        pdf.add_font("cjk", fname=font)
        pdf.set_font("cjk", size=10)
    else:
        pdf.set_font("helvetica", size=9)
    pdf.add_page()
    width = A4_MM[0] - 2 * PDF_MARGIN_MM
    totals = document["totals"]
    header = [
        ("积分结算单" if chinese else "Points settlement statement") + f"  #{settlement['id']}",
        f"{document['realm']['code']} {document['realm']['name'] if chinese else ''}",
        f"{'商家' if chinese else 'Merchant'}: {document['merchant']['id']} "
        f"{document['merchant']['name'] if chinese else ''}",
        f"{'期间' if chinese else 'Period'}: {_local(document['period']['start'], tz_name)} - "
        f"{_local(document['period']['end'], tz_name)} ({tz_name})",
        f"{'费率' if chinese else 'Rate'}: {document['rate_fen_per_point']} fen/point   "
        f"{'合计' if chinese else 'Total'}: {totals['points']} points = {totals['amount_yuan']} "
        f"{'元' if chinese else 'yuan'}   ({totals['lines']} lines)",
    ]
    for text in header:
        pdf.cell(width, PDF_LINE_MM + 1, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    columns = (48.0, 70.0, 22.0, 22.0, 24.0)
    titles = (("时间", "券号", "类型", "积分类型", "积分") if chinese
              else ("time", "voucher serial", "kind", "asset", "points"))
    for size, title in zip(columns, titles, strict=True):
        pdf.cell(size, PDF_LINE_MM, title, border="B")
    pdf.ln(PDF_LINE_MM)
    for line in document["lines"]:
        cells = (_local(line["time"], tz_name), (line["voucher_serial"] or line["reference"] or "")[:32],
                 KIND_NAMES.get(line["kind"], line["kind"]) if chinese else line["kind"],
                 chinese_asset(line["asset"]) if chinese else line["asset"], str(line["points"]))
        for size, text in zip(columns, cells, strict=True):
            pdf.cell(size, PDF_LINE_MM, text)
        pdf.ln(PDF_LINE_MM)
    pdf.ln(3)
    pdf.set_font_size(7)
    pdf.multi_cell(width, 4, f"SHA-256 {settlement['statement_sha256'].hex()}\n"
                             f"Ed25519 key {settlement['key_id']} signature "
                             f"{base64.b64encode(settlement['signature']).decode()}")
    return bytes(pdf.output())
