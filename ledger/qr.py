"""A QR code of any short text as PNG (sign-in links, check-in codes). Vouchers have their
own, stricter rendering (redemption/render.py: alphanumeric mode, version 7 at most)."""
from __future__ import annotations

import io

import qrcode

QR_BOX_PX = 8
QR_BORDER_MODULES = 4


def qr_png(text: str) -> bytes:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=QR_BOX_PX,
                       border=QR_BORDER_MODULES)
    qr.add_data(text)
    qr.make(fit=True)
    out = io.BytesIO()
    qr.make_image().save(out, format="PNG")
    return out.getvalue()
