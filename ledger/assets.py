"""The assets (kinds of points) and their names, defined once.

`civic` (文明积分) is spent anywhere in scope; `agri` (助农积分) only at agricultural-product
shops. The order is part of the voucher code's wire format (an asset's byte is its place
here, `redemption/codec.py`): add new assets at the end, never reorder. The web pages
take the same names from `api/static/i18n.json` (`asset.<name>`); a unit test ties them.
"""
from __future__ import annotations

from typing import NamedTuple

ASSETS = ("civic", "agri")


class AssetName(NamedTuple):
    chinese: str
    english: str


ASSET_NAMES = {"civic": AssetName("文明积分", "civic points"), "agri": AssetName("助农积分", "agri points")}
