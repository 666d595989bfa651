"""The key registry: one stray sealer can no longer break the audit.

Each test runs on a database of its own (the session's database has its registered key,
and these tests register, rotate and acknowledge keys)."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from api.cli import main
from api.database import with_database
from ledger import audit, db, errors, model
from ledger.checkpoints import Checkpoints
from ledger.keys import KeyRing
from ledger.service import Ledger
from migrations.runner import upgrade
from tests.old_heads import restore_old_head

REALM = "430104"
pytestmark = pytest.mark.db  # databases of their own on the test server (not `database_url`)


@contextmanager
def fresh_database(server_url: str, revision: str | None = "head", template: str | None = None) -> Iterator[str]:
    """A database of its own: migrated to head, restored at an earlier `revision` (one of
    tests/fixtures), or a copy of `template`."""
    name = f"pb_keys_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    url = with_database(server_url, name)
    try:
        if template is None and revision == "head":
            upgrade(url)
        elif template is None:
            restore_old_head(url, revision)
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def migrated_template(server_url: str) -> Iterator[str]:
    """Migrated once per module; each test copies it (much faster than migrating)."""
    with fresh_database(server_url) as url:
        yield make_url(url).database


@pytest.fixture
def own_url(server_url: str, migrated_template: str) -> Iterator[str]:
    with fresh_database(server_url, template=migrated_template) as url:
        yield url


@pytest.fixture
async def book(own_url: str) -> AsyncIterator[SimpleNamespace]:
    """A database of its own with one funded realm."""
    engine = db.app_engine(own_url, pool_size=4)
    ledger = Ledger(engine)
    await ledger.open_realm(REALM, "测试区")
    await fund(ledger)
    yield SimpleNamespace(url=own_url, engine=engine, ledger=ledger)
    await ledger.close()
    await engine.dispose()


async def fund(ledger: Ledger, amount: int = 100) -> None:
    funding = await ledger.system_account(REALM, "funding", "civic")
    budget = await ledger.system_account(REALM, "budget", "civic")
    await ledger.post(model.EntryDraft(REALM, "fund", (model.Line(funding["id"], -amount),
                                                       model.Line(budget["id"], amount)), "test"))


async def cli(*args: str) -> int:
    """`pointsbank ARGS` (it runs its own event loop, so in a thread of its own)."""
    return await asyncio.to_thread(main, list(args))


async def failed(engine) -> dict[str, list[dict]]:
    report = await audit.run_audit(engine, REALM)
    return {r.name: r.offending for r in report.results if not r.ok}


async def seal_behind_the_registry(url: str, ring: KeyRing, key_id_of=lambda key: key.registry_id) -> None:
    """Seal as a process before the registry did (or as the database owner with the
    signer trigger off): with `ring`'s ledger key, whatever the registry says."""
    owner = create_async_engine(db.sqlalchemy_url(url))
    checkpoints = Checkpoints(owner, ring)
    key = ring.active("ledger")

    async def signer(conn, realm):
        return SimpleNamespace(kid=key.kid, registry_id=key_id_of(key))

    checkpoints.registry.signer = signer  # type: ignore[method-assign]

    async def work(conn):
        if await conn.run_sync(lambda sync: sync.dialect.has_table(sync, "signing_keys")):
            await conn.exec_driver_sql("ALTER TABLE checkpoints DISABLE TRIGGER checkpoints_signer")
        return await checkpoints.seal_in(conn, REALM)

    try:
        assert await db.in_transaction(owner, work) is not None
    finally:
        await owner.dispose()


async def test_a_second_key_directory_is_refused_and_the_audit_stays_green(book, tmp_path, caplog):
    ours = Checkpoints(book.engine, KeyRing(tmp_path / "ours"))
    assert await ours.seal(REALM) is not None
    stray = Checkpoints(book.engine, KeyRing(tmp_path / "stray"))
    await fund(book.ledger, 5)
    with pytest.raises(errors.SealingKeyNotCurrent, match="not the registered current ledger key"):
        await stray.seal(REALM)
    with caplog.at_level("WARNING", logger="ledger.checkpoints"):
        assert await stray.seal_periodically() == []  # serve's round: one log line, no seal
    [line] = [r.getMessage() for r in caplog.records if r.name == "ledger.checkpoints"]
    assert "not sealing" in line and "\n" not in line
    assert await failed(book.engine) == {}
    assert await ours.seal(REALM) is not None


async def test_the_database_refuses_a_checkpoint_by_another_key(book, tmp_path):
    """Bypassing the Python check: the signer trigger refuses the row."""
    ours = Checkpoints(book.engine, KeyRing(tmp_path / "ours"))
    await ours.seal(REALM)
    await fund(book.ledger, 5)
    stray = Checkpoints(book.engine, KeyRing(tmp_path / "stray"))
    key = stray.keys.active("ledger")

    async def signer(conn, realm):
        return key

    stray.registry.signer = signer  # type: ignore[method-assign]
    with pytest.raises(errors.SealingKeyNotCurrent):
        await stray.seal(REALM)
    with psycopg.connect(book.url, options=f"-c role={db.APP_ROLE}") as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="signing_key_current_exists"):
            conn.execute("INSERT INTO signing_keys (key_id, purpose, public_key, kind, registered_by, valid_from) "
                         "VALUES (%s, 'ledger', %s, 'signer', 'test', now())", (key.registry_id, key.public_key))
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE signing_keys SET reason = 'x'")
    with psycopg.connect(book.url) as conn:  # even the owner: append-only
        with pytest.raises(psycopg.errors.RaiseException, match="append_only"):
            conn.execute("UPDATE signing_keys SET valid_from = now()")


async def test_an_unregistered_signer_is_named_then_acknowledged(book, tmp_path, capsys, monkeypatch):
    ours = Checkpoints(book.engine, KeyRing(tmp_path / "ours"))
    await ours.seal(REALM)
    await fund(book.ledger, 5)
    stray_ring = KeyRing(tmp_path / "stray")
    await seal_behind_the_registry(book.url, stray_ring)
    stray_id = stray_ring.active("ledger").registry_id

    found = await failed(book.engine)
    assert found == {"checkpoint_signer_unknown": [{"realm": REALM, "checkpoint_seq": 2, "key_id": stray_id,
                                                    "problem": "checkpoint_signer_unknown"}]}
    monkeypatch.setenv("DATABASE_URL", book.url)
    monkeypatch.setenv("POINTSBANK_KEY_DIR", str(tmp_path / "ours"))
    assert await cli("audit", "--realm", REALM) == 1
    assert "FAILED checkpoint_signer_unknown" in capsys.readouterr().out

    stray_json = next((tmp_path / "stray").glob("*.json"))
    assert await cli("keys", "acknowledge", str(stray_json), "--reason", "a laptop sealed once, 2026-11-30") == 0
    assert await cli("audit", "--realm", REALM) == 0
    printed = capsys.readouterr().out
    assert "all checks pass" in printed and "a laptop sealed once" in printed
    report = await audit.run_audit(book.engine, REALM)
    [signers] = [r for r in report.results if r.name == "checkpoint_signer_unknown"]
    assert signers.notes == [{"realm": REALM, "checkpoint_seq": 2, "key_id": stray_id,
                              "acknowledged": "a laptop sealed once, 2026-11-30"}]
    with psycopg.connect(book.url) as conn:  # recorded, append-only, and never a signer
        assert conn.execute("SELECT kind, registered_by FROM signing_keys WHERE key_id = %s",
                            (stray_id,)).fetchone() == ("acknowledged", "cli:keys acknowledge")
        with pytest.raises(psycopg.errors.RaiseException, match="append_only"):
            conn.execute("DELETE FROM signing_keys WHERE key_id = %s", (stray_id,))
    with pytest.raises(errors.SealingKeyNotCurrent):
        await Checkpoints(book.engine, stray_ring).seal(REALM)


async def test_a_bad_signature_by_a_registered_key_is_not_an_unknown_signer(book, tmp_path):
    ours = Checkpoints(book.engine, KeyRing(tmp_path / "ours"))
    await ours.seal(REALM)
    with psycopg.connect(book.url) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("UPDATE checkpoints SET signature = %s WHERE realm = %s", (b"\1" * 64, REALM))
        conn.commit()
    found = await failed(book.engine)
    assert set(found) == {"checkpoints_verify"}
    assert found["checkpoints_verify"][0]["problem"] == "signature does not verify"


async def test_rotation_registers_the_new_key_and_old_checkpoints_still_verify(book, tmp_path, monkeypatch, capsys):
    key_dir = tmp_path / "ours"
    ours = Checkpoints(book.engine, KeyRing(key_dir))
    first = (await ours.seal(REALM))["key_id"]
    monkeypatch.setenv("DATABASE_URL", book.url)
    monkeypatch.setenv("POINTSBANK_KEY_DIR", str(key_dir))
    assert await cli("keys", "rotate", "--purpose", "ledger") == 0
    await fund(book.ledger, 5)
    second = (await ours.seal(REALM))["key_id"]  # the running process picks the new key up
    assert second != first
    assert await failed(book.engine) == {}
    keys = {key.key_id: key for key in await ours.registry.keys()}
    assert keys[first].retired_at is not None and keys[second].retired_at is None
    assert await cli("keys", "list") == 0
    assert "current" in capsys.readouterr().out
    KeyRing(key_dir).rotate("ledger")  # a rotation cut off after the files, before the registry:
    await fund(book.ledger, 1)
    with pytest.raises(errors.SealingKeyNotCurrent):  # the directory no longer seals ...
        await Checkpoints(book.engine, KeyRing(key_dir)).seal(REALM)
    assert await cli("keys", "rotate", "--purpose", "ledger") == 0  # ... until rotating finishes it
    await fund(book.ledger, 5)
    third = (await ours.seal(REALM))["key_id"]
    assert third not in (first, second) and await failed(book.engine) == {}
    other = tmp_path / "other"
    monkeypatch.setenv("POINTSBANK_KEY_DIR", str(other))  # a stray directory may not rotate
    assert await cli("keys", "rotate", "--purpose", "ledger") == 2


async def test_two_processes_with_their_own_keys_seal_at_once(book, tmp_path):
    """Both start on an empty registry: exactly one key is registered and seals."""
    for _ in range(3):
        await fund(book.ledger, 1)
    env = {**os.environ, "DATABASE_URL": book.url}
    runs = [subprocess.Popen([sys.executable, "-m", "api.cli", "checkpoint", "--realm", REALM],
                             env={**env, "POINTSBANK_KEY_DIR": str(tmp_path / f"dir{n}")},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for n in range(2)]
    results = [(run.wait(timeout=120), run.stderr.read()) for run in runs]
    assert sorted(code for code, _ in results) == [0, 2], results
    assert any("sealing_key_not_current" in err for _, err in results)
    with psycopg.connect(book.url) as conn:
        signers = conn.execute("SELECT DISTINCT key_id FROM checkpoints").fetchall()
        registered = conn.execute("SELECT key_id FROM signing_keys").fetchall()
    assert len(signers) == 1 and signers == registered
    assert await failed(book.engine) == {}


async def test_checkpoints_of_a_database_from_before_the_registry_still_verify(server_url, tmp_path,
                                                                             monkeypatch, capsys):
    ring = KeyRing(tmp_path / "keys")
    ring.active("voucher")  # today's directories number keys of every purpose together
    with fresh_database(server_url, "0007") as url:
        engine = db.app_engine(url, pool_size=2)
        ledger = Ledger(engine)
        try:
            await ledger.open_realm(REALM, "测试区")
            await fund(ledger)
            await seal_behind_the_registry(url, ring, key_id_of=lambda key: key.kid)
            legacy_kid = ring.active("ledger").kid
            upgrade(url)
            monkeypatch.setenv("DATABASE_URL", url)
            monkeypatch.setenv("POINTSBANK_KEY_DIR", str(tmp_path / "keys"))
            assert await cli("db", "upgrade") == 0
            assert "registered the ledger keys" in capsys.readouterr().out
            assert await failed(engine) == {}
            await fund(ledger, 5)
            head = await Checkpoints(engine, ring).seal(REALM)
            assert head["seq"] == 2 and head["key_id"] != legacy_kid
            assert await failed(engine) == {}
            bundle = tmp_path / "bundle"
            assert await cli("export", "--realm", REALM, "--from", "2000-01-01T00:00:00+00:00",
                         "--to", "2100-01-01T00:00:00+00:00", str(bundle)) == 0
            assert await cli("verify-bundle", str(bundle)) == 0
        finally:
            await ledger.close()
            await engine.dispose()
