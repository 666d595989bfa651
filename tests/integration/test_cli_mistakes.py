"""`pointsbank tokens create` refuses a scope that does not exist: one line, exit 2."""
from __future__ import annotations

import pytest

from api import cli
from tests.integration.earning_fixtures import make_place


@pytest.fixture
async def place(earning, realm):
    return await make_place(earning, realm, residents=1, fund=0)


@pytest.mark.parametrize("scope, expected", [
    (["--role", "admin", "--realm", "999999"], "realm_not_found"),
    (["--role", "resident", "--realm", "{realm}", "--resident", "999999999"], "resident_not_found"),
    (["--role", "merchant", "--realm", "{realm}", "--merchant", "999999999"], "merchant_not_found"),
    (["--role", "organizer", "--realm", "{realm}", "--station", "999999999"], "station_not_found"),
    (["--role", "resident", "--realm", "430199", "--resident", "{resident}"], "realm_not_found"),
])
def test_tokens_create_refuses_what_does_not_exist(place, scope, expected, database_url, monkeypatch,
                                                   tmp_path, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("POINTSBANK_DATA_DIR", str(tmp_path))
    argv = [a.format(realm=place.realm, resident=place.residents[0]) for a in scope]
    assert cli.main(["tokens", "create", *argv]) == cli.EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == "" and expected in captured.err and len(captured.err.splitlines()) == 1


def test_tokens_create_refuses_a_resident_of_another_realm(place, ledger, database_url, monkeypatch,
                                                            tmp_path, capsys):
    import asyncio

    from tests.conftest import new_realm_code

    other = new_realm_code()
    asyncio.run(_open(database_url, other))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("POINTSBANK_DATA_DIR", str(tmp_path))
    assert cli.main(["tokens", "create", "--role", "resident", "--realm", other,
                     "--resident", str(place.residents[0])]) == cli.EXIT_USAGE
    assert f"belongs to realm {place.realm}" in capsys.readouterr().err
    assert cli.main(["tokens", "create", "--role", "resident", "--realm", place.realm,
                     "--resident", str(place.residents[0])]) == 0
    assert len(capsys.readouterr().out.strip()) > 20


async def _open(database_url: str, code: str) -> None:
    from ledger import db
    from ledger.service import Ledger

    engine = db.app_engine(database_url, pool_size=1)
    try:
        await Ledger(engine).open_realm(code, "另一县")
    finally:
        await engine.dispose()
