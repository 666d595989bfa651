"""`pointsbank backup` and `restore`: a whole book (funding, awards, vouchers, a redemption,
a settlement, checkpoints) comes back in a fresh database where the audit passes, the
proofs verify against the heads published before the backup, the application role works
as before, and sealing continues the chain."""
from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import psycopg
import pytest

from api.app import build_services
from api.cli import EXIT_TOOL, EXIT_USAGE, main
from api.demo import DEMO_REALM, load_demo
from api.settings import Settings
from ledger import merkle, model
from ledger.audit import run_audit
from ledger.db import APP_ROLE
from migrations.runner import upgrade


async def cli(monkeypatch: pytest.MonkeyPatch, url: str, key_dir: Path, *argv: str) -> int:
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("POINTSBANK_KEY_DIR", str(key_dir))
    return await asyncio.to_thread(main, list(argv))  # the CLI runs its own event loop


async def fund(services, amount: int, key: str) -> dict:
    funding = await services.ledger.system_account(DEMO_REALM, "funding", "civic")
    budget = await services.ledger.system_account(DEMO_REALM, "budget", "civic")
    return await services.ledger.post(model.EntryDraft(
        DEMO_REALM, "fund", (model.Line(funding["id"], -amount), model.Line(budget["id"], amount)),
        "test", idempotency_key=key))


async def budget(services) -> dict:
    return await services.ledger.system_account(DEMO_REALM, "budget", "civic")


async def test_a_restored_book_audits_proves_and_seals_on(new_database, tmp_path, monkeypatch):
    source, target = new_database(), new_database()
    upgrade(source)
    keys, restored_keys = tmp_path / "keys", tmp_path / "restored-keys"
    services = build_services(source, Settings(data_dir=tmp_path, key_dir=keys, seal_interval_s=0))
    try:
        await load_demo(services)       # funds, awards, vouchers, a redemption, a settlement, a seal
        sealed_entry = await fund(services, 100, "backup-fund-1")
        first = (await services.checkpoints.seal_current(DEMO_REALM))[-1]
        await fund(services, 200, "backup-fund-2")
        second = (await services.checkpoints.seal_current(DEMO_REALM))[-1]
        budget_before = await budget(services)
    finally:
        await services.close()

    dump, key_archive = tmp_path / "book.dump", tmp_path / "keys.tar.gz"
    assert await cli(monkeypatch, source, keys, "backup", str(dump), "--keys", str(key_archive)) == 0
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_archive.stat().st_mode) == 0o600
    assert await cli(monkeypatch, target, restored_keys, "restore", str(dump), "--keys", str(key_archive)) == 0
    assert stat.S_IMODE(restored_keys.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in restored_keys.iterdir()} == {0o600}
    assert await cli(monkeypatch, target, restored_keys, "audit", "--realm", DEMO_REALM) == 0

    restored = build_services(target, Settings(data_dir=tmp_path, key_dir=restored_keys, seal_interval_s=0))
    try:
        assert (await budget(restored))["balance"] == budget_before["balance"]
        # proofs from the restored book verify against the heads published before the backup
        inclusion = await restored.checkpoints.inclusion_proof(sealed_entry["id"], first["seq"])
        assert merkle.verify_inclusion(bytes.fromhex(inclusion["leaf_hash"]), inclusion["leaf_index"],
                                       first["tree_size"], [bytes.fromhex(h) for h in inclusion["proof"]],
                                       bytes.fromhex(first["root_hash"]))
        consistency = await restored.checkpoints.consistency_proof(DEMO_REALM, first["seq"], second["seq"])
        assert merkle.verify_consistency(first["tree_size"], second["tree_size"],
                                         bytes.fromhex(first["root_hash"]), bytes.fromhex(second["root_hash"]),
                                         [bytes.fromhex(h) for h in consistency["proof"]])
        # the application role appends as before, and sealing links to the restored head
        await fund(restored, 300, "after-restore")
        after = (await restored.checkpoints.seal_current(DEMO_REALM))[-1]
        assert after["seq"] == second["seq"] + 1
        assert after["previous_head_hash"] == second["head_hash"]
        assert (await run_audit(restored.engine, DEMO_REALM)).ok
    finally:
        await restored.close()
    with psycopg.connect(target, options=f"-c role={APP_ROLE}") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE entries SET memo = 'rewritten'")


async def test_mistakes_are_one_line_and_a_documented_status(new_database, tmp_path, monkeypatch, capfd):
    source = new_database()
    upgrade(source)
    keys = tmp_path / "keys"
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("hello")
    cases = [
        (("backup", str(not_a_directory / "book.dump")), EXIT_USAGE, "there is no directory"),
        (("backup", str(tmp_path)), EXIT_USAGE, "it is a directory"),
        (("restore", str(tmp_path / "missing.dump")), EXIT_USAGE, "no backup file"),
        (("restore", str(not_a_backup)), EXIT_USAGE, "is not a backup"),
        (("restore", str(not_a_backup), "--keys", str(not_a_backup)), EXIT_USAGE, "is not a key archive"),
        (("backup", str(tmp_path / "book.dump"), "--keys", str(tmp_path / "keys.tgz")), EXIT_USAGE,
         "no key directory"),
    ]
    for argv, status, says in cases:
        capfd.readouterr()
        assert await cli(monkeypatch, source, keys, *argv) == status, argv
        err = capfd.readouterr().err.strip().splitlines()
        assert len(err) == 1 and says in err[0] and "Traceback" not in err[0], (argv, err)

    dump = tmp_path / "book.dump"
    assert not dump.exists()  # the wrong key directory stopped it before the dump
    assert await cli(monkeypatch, source, keys, "backup", str(dump)) == 0
    capfd.readouterr()
    assert await cli(monkeypatch, source, keys, "restore", str(dump)) == EXIT_USAGE
    assert "the target database is not empty" in capfd.readouterr().err

    monkeypatch.setattr("api.backup.tool_major", lambda path: 9)  # only a pg_dump too old for the server
    assert await cli(monkeypatch, source, keys, "backup", str(tmp_path / "other.dump")) == EXIT_TOOL
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no pg_dump of PostgreSQL" in err[0] and "PostgreSQL 9" in err[0], err
    assert not (tmp_path / "other.dump").exists()
