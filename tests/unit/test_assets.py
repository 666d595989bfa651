"""Assets and their names have one definition (ledger/assets.py); the rest import it,
and the pages' names (i18n.json) are tied to it here."""
import json
from pathlib import Path

from ledger import assets, model
from merchants import model as merchants_model
from redemption import codec, render

I18N = Path(__file__).parents[2] / "api" / "static" / "i18n.json"


def test_every_package_uses_the_one_definition():
    assert model.ASSETS is codec.ASSETS is merchants_model.ASSETS is assets.ASSETS
    assert render.ASSET_NAMES is assets.ASSET_NAMES
    assert set(assets.ASSET_NAMES) == set(assets.ASSETS)
    assert all(set(kinds) <= set(assets.ASSETS) for kinds in merchants_model.ASSETS_BY_KIND.values())


def test_the_asset_order_is_the_voucher_codes_wire_format():
    """A voucher's asset byte is its place in ASSETS: codes already printed must keep
    meaning the same asset."""
    assert assets.ASSETS[:2] == ("civic", "agri")


def test_the_pages_name_assets_as_the_service_does():
    names = json.loads(I18N.read_text(encoding="utf-8"))
    for asset, name in assets.ASSET_NAMES.items():
        assert names["zh"][f"asset.{asset}"] == name.chinese
        assert names["en"][f"asset.{asset}"].lower() == name.english.lower()
