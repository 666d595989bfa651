"""`pointsbank vouchers expire` and `pointsbank keys rotate`."""
from __future__ import annotations

import asyncio
import json

from api.cli import main
from ledger.keys import KeyRing
from ledger.service import Ledger
from ledger import db
from redemption.service import Vouchers
from tests.conftest import new_realm_code
from tests.redemption_support import fund_resident


def test_vouchers_expire_releases_what_is_due(database_url, owner_conn, tmp_path, monkeypatch, capsys):
    realm = new_realm_code()

    async def setup() -> int:
        engine = db.app_engine(database_url, pool_size=2)
        ledger = Ledger(engine)
        try:
            await ledger.open_realm(realm, "过期县")
            await fund_resident(ledger, realm, 5)
            vouchers = Vouchers(engine, ledger, KeyRing(tmp_path / "keys"))
            return (await vouchers.issue(realm, 5, "civic", 30, None, None, "cli-1", "test"))["id"]
        finally:
            await engine.dispose()

    voucher_id = asyncio.run(setup())
    owner_conn.execute("SET LOCAL session_replication_role = replica")
    owner_conn.execute("UPDATE vouchers SET expires_at = now() - interval '1 second' WHERE id = %s", (voucher_id,))
    owner_conn.commit()
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("POINTSBANK_KEY_DIR", str(tmp_path / "keys"))
    assert main(["vouchers", "expire"]) == 0
    released = int(capsys.readouterr().out.split()[1])
    assert released >= 1
    status = owner_conn.execute("SELECT status FROM vouchers WHERE id = %s", (voucher_id,)).fetchone()[0]
    assert status == "expired"
    balance = owner_conn.execute("SELECT balance FROM accounts WHERE realm = %s AND resident_id = 5",
                                 (realm,)).fetchone()[0]
    assert balance == 1000


def test_keys_rotate_retires_the_active_voucher_key(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("POINTSBANK_KEY_DIR", str(tmp_path))
    first = KeyRing(tmp_path).active("voucher").kid
    assert main(["keys", "rotate", "--purpose", "voucher"]) == 0
    ring = KeyRing(tmp_path)
    assert ring.active("voucher").kid != first
    assert json.loads((tmp_path / f"{first}.json").read_text())["retired_at"] is not None
