"""`pointsbank tokens create | list | revoke`."""
from __future__ import annotations

from api.cli import main
from tests.conftest import new_realm_code


def test_tokens_create_list_and_revoke(database_url, owner_conn, monkeypatch, capsys):
    realm = new_realm_code()
    owner_conn.execute("INSERT INTO realms (code, name) VALUES (%s, '令牌县')", (realm,))
    owner_conn.commit()
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["tokens", "create", "--role", "admin", "--realm", realm, "--label", "first admin"]) == 0
    assert capsys.readouterr().out.strip().startswith("pb_")
    assert main(["tokens", "create", "--role", "resident", "--realm", realm, "--resident", "99999999"]) == 2
    assert "resident_not_found" in capsys.readouterr().err

    assert main(["tokens", "list", "--realm", realm]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 1 and "first admin" in listed[0] and "no expiry" in listed[0]
    token_id = int(listed[0].split()[0])

    assert main(["tokens", "revoke", str(token_id)]) == 0
    assert f"token {token_id} revoked" in capsys.readouterr().out
    assert main(["tokens", "list", "--realm", realm, "--active"]) == 0
    assert capsys.readouterr().out == ""
    revoked_at = owner_conn.execute("SELECT revoked_at FROM api_tokens WHERE id = %s", (token_id,)).fetchone()[0]
    assert revoked_at is not None
    assert main(["tokens", "revoke", "999999999"]) == 2
