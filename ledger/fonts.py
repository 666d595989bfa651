"""Where to find a CJK font for PDFs (vouchers, settlement statements).

None is committed to the repository (a CJK font is 5 to 20 MB): the system's WenQuanYi
Micro Hei (Debian `fonts-wqy-microhei`, installed by .ci/run) or Noto CJK when present,
found at the paths in CJK_FONT_PATHS or $POINTSBANK_CJK_FONT. Without one, callers fall
back to English and pinyin text (`cjk_font_path() is None`).
"""
from __future__ import annotations

import os
from pathlib import Path

CJK_FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)


def cjk_font_path() -> str | None:
    configured = os.environ.get("POINTSBANK_CJK_FONT")
    for candidate in ((configured,) if configured else ()) + CJK_FONT_PATHS:
        if Path(candidate).is_file():
            return candidate
    return None


def use_cjk_font(pdf: object, size: float) -> bool:
    """Set an fpdf document's font: the CJK font when there is one (True), else
    Helvetica (False: the caller writes English and pinyin)."""
    font = cjk_font_path()
    if font is None:
        pdf.set_font("helvetica", size=size)  # type: ignore[attr-defined]
        return False
    pdf.add_font("cjk", fname=font)  # type: ignore[attr-defined]
    pdf.set_font("cjk", size=size)  # type: ignore[attr-defined]
    return True
