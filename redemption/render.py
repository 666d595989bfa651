"""Renderings of a voucher: QR as PNG and SVG, and a printable A6 PDF in Chinese.

The QR holds the code in alphanumeric mode at error correction M; it must come out at
version 7 or lower (old phone cameras), which `qr_matrix` checks every time.

The PDF needs a CJK font, found by `ledger.fonts.cjk_font_path` (shared with the
settlement statements). Without one, the PDF falls back to English and pinyin text
(still with the QR code and the short code).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import qrcode
import qrcode.image.svg
from qrcode.util import MODE_ALPHA_NUM, QRData

from ledger.fonts import CJK_FONT_PATHS, cjk_font_path  # noqa: F401  (re-exported)
from ledger.assets import ASSET_NAMES
from ledger.require import require

QR_VERSION_MAX = 7
QR_BOX_PX = 8
QR_BORDER_MODULES = 4
A6_MM = (105.0, 148.0)
PDF_QR_MM = 80.0
KIND_NAMES = {"general": "合作商家", "agri_shop": "助农店", "service_provider": "服务机构"}


def qr_matrix(code: str) -> qrcode.QRCode:
    qr = qrcode.QRCode(version=None, error_correction=qrcode.constants.ERROR_CORRECT_M,
                       box_size=QR_BOX_PX, border=QR_BORDER_MODULES)
    qr.add_data(QRData(code.encode("ascii"), mode=MODE_ALPHA_NUM))
    qr.make(fit=True)
    require(qr.version <= QR_VERSION_MAX, f"a voucher QR came out at version {qr.version}")
    return qr


def qr_png(code: str) -> bytes:
    out = io.BytesIO()
    qr_matrix(code).make_image().save(out, format="PNG")
    return out.getvalue()


def qr_svg(code: str) -> bytes:
    out = io.BytesIO()
    qr_matrix(code).make_image(image_factory=qrcode.image.svg.SvgPathImage).save(out)
    return out.getvalue()


@dataclass(frozen=True)
class PrintedVoucher:
    code: str
    short_code: str          # formatted, XXXX-XXXX-XXXX-C
    amount: int
    asset: str
    expires_at: datetime
    timezone: str
    realm_name: str
    scope: str | None        # the merchant's name or a merchant kind, None for any
    scope_en: str | None = None  # the same in Latin letters, for a PDF without a CJK font


def voucher_pdf(voucher: PrintedVoucher) -> bytes:
    """One A6 page: title, large QR, amount and asset, expiry (local date), where it can
    be spent, and the short code for typing by hand."""
    from fpdf import FPDF

    pdf = FPDF(format=A6_MM, unit="mm")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    font = cjk_font_path()
    chinese = font is not None
    if chinese:
        pdf.add_font("cjk", fname=font)
        pdf.set_font("cjk", size=14)
    else:
        pdf.set_font("helvetica", size=13)
    width = A6_MM[0] - 10
    pdf.set_xy(5, 6)
    pdf.cell(width, 7, "文明积分兑换券" if chinese else "Points voucher (wenming jifen)", align="C")
    png = io.BytesIO(qr_png(voucher.code))
    pdf.image(png, x=(A6_MM[0] - PDF_QR_MM) / 2, y=15, w=PDF_QR_MM, h=PDF_QR_MM)
    local_expiry = voucher.expires_at.astimezone(ZoneInfo(voucher.timezone))
    asset_cn, asset_en = ASSET_NAMES[voucher.asset]
    if chinese:
        lines = [f"{voucher.amount} {asset_cn}",
                 f"有效期至 {local_expiry:%Y年%m月%d日 %H:%M}",
                 f"{voucher.realm_name} · {voucher.scope or '所有合作商家'}",
                 f"手输码 {voucher.short_code}"]
    else:
        lines = [f"{voucher.amount} {asset_en}", f"valid until {local_expiry:%Y-%m-%d %H:%M}",
                 f"where: {voucher.scope_en or 'any partner merchant'}",
                 f"short code {voucher.short_code}"]
    y = 15 + PDF_QR_MM + 3
    for index, text in enumerate(lines):
        pdf.set_font_size(16 if index in (0, 3) else 11)
        pdf.set_xy(5, y)
        pdf.cell(width, 8, text, align="C")
        y += 10
    return bytes(pdf.output())


KIND_NAMES_EN = {"general": "partner merchants", "agri_shop": "agri shops",
                 "service_provider": "service providers"}


def scope_label(scope_merchant_name: str | None, scope_kind: str | None) -> str | None:
    if scope_merchant_name:
        return scope_merchant_name
    return KIND_NAMES.get(scope_kind, scope_kind) if scope_kind else None


def scope_label_en(scope_merchant_id: int | None, scope_kind: str | None) -> str | None:
    """Where the voucher is good, in words any PDF core font can draw (no merchant name:
    it is Chinese)."""
    if scope_merchant_id is not None:
        return f"merchant no. {scope_merchant_id} only"
    return KIND_NAMES_EN.get(scope_kind, scope_kind) if scope_kind else None

