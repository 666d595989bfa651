"""`pointsbank audit`, `checkpoint` and `export` name a realm that does not exist: one
line and exit 2, never "all checks pass"."""
from __future__ import annotations

import pytest

from api.cli import EXIT_USAGE, main

UNKNOWN = "999999"


@pytest.mark.parametrize("command", [
    ["audit", "--realm", UNKNOWN],
    ["checkpoint", "--realm", UNKNOWN],
    ["export", "--realm", UNKNOWN, "--from", "2026-01-01T00:00:00+08:00", "--to", "2026-02-01T00:00:00+08:00"],
])
def test_an_unknown_realm_is_an_error(command, database_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    if command[0] == "export":
        command = [*command, str(tmp_path / "bundle")]
    assert main(command) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert "all checks pass" not in out and "exported" not in out
    assert err.strip().splitlines() == [f"pointsbank: realm_not_found: no realm {UNKNOWN}"]
    assert not (tmp_path / "bundle").exists()
