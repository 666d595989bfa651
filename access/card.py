"""The printable enrolment card (A6 PDF): a QR of the sign-in link, the code in large
type, the person's name and station. Chinese with a CJK font, English and pinyin
without one (`ledger.fonts`)."""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from ledger.fonts import use_cjk_font
from ledger.qr import qr_png

A6_MM = (105.0, 148.0)
CARD_QR_MM = 70.0
ROLE_NAMES = {"resident": ("居民", "resident"), "organizer": ("活动组织者", "organizer"),
              "merchant": ("合作商家", "merchant"), "auditor": ("审计", "auditor"),
              "admin": ("管理员", "admin")}


@dataclass(frozen=True)
class Card:
    link: str                # https://host/app/enrol#code=XXXX-XXXX-XXXX
    code: str                # formatted XXXX-XXXX-XXXX
    role: str
    name: str | None         # the person's or merchant's name, if known
    station: str | None
    expires_at: datetime
    timezone: str


def card_pdf(card: Card) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format=A6_MM, unit="mm")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    chinese = use_cjk_font(pdf, 15)
    width = A6_MM[0] - 10
    pdf.set_xy(5, 6)
    pdf.cell(width, 8, "文明积分 · 登录卡" if chinese else "Points Bank sign-in card", align="C")
    pdf.image(io.BytesIO(qr_png(card.link)), x=(A6_MM[0] - CARD_QR_MM) / 2, y=16, w=CARD_QR_MM, h=CARD_QR_MM)
    expiry = card.expires_at.astimezone(ZoneInfo(card.timezone))
    role_cn, role_en = ROLE_NAMES.get(card.role, (card.role, card.role))
    y = 16 + CARD_QR_MM + 2
    pdf.set_font_size(22)
    pdf.set_xy(5, y)
    pdf.cell(width, 12, card.code, align="C")
    lines = ([f"{card.name or ''} · {role_cn}", card.station or "",
              "用手机扫码，或在“登录”页输入上面的登录码", f"{expiry:%Y年%m月%d日 %H:%M} 前有效，只能用一次"]
             if chinese else
             [f"{card.name or ''} ({role_en})", card.station or "",
              "Scan with your phone, or type the code on the sign-in page",
              f"valid once, until {expiry:%Y-%m-%d %H:%M}"])
    y += 14
    for index, line in enumerate(lines):
        pdf.set_font_size(13 if index == 0 else 9)
        pdf.set_xy(5, y)
        pdf.cell(width, 7, line, align="C")
        y += 8 if index == 0 else 6
    return bytes(pdf.output())
