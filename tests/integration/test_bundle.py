"""Exports verify offline, and an edit to any exported file is named."""
from __future__ import annotations

import asyncio
import csv
import json
from datetime import datetime, timedelta, timezone

import pytest

from api.cli import main
from ledger import bundle, model
from ledger.checkpoints import Checkpoints

WIDE_FROM = datetime(2000, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
async def exported(ledger, engine, realm, tmp_path, keys):
    funding = await ledger.system_account(realm, "funding", "civic")
    budget = await ledger.system_account(realm, "budget", "civic")
    resident = await ledger.create_account(realm, "resident", "civic", resident_id=7)
    await ledger.post(model.EntryDraft(realm, "fund", (model.Line(funding["id"], -100),
                                                       model.Line(budget["id"], 100)), "test",
                                       memo='备注, with "quotes"\nand a newline'))
    checkpoints = Checkpoints(engine, keys)
    await checkpoints.seal_current(realm)
    for amount in (3, 4, 5):
        await ledger.post(model.EntryDraft(realm, "earn", (model.Line(budget["id"], -amount),
                                                           model.Line(resident["id"], amount)), "test"))
        await checkpoints.seal_current(realm)
    directory = tmp_path / "bundle"
    until = datetime.now(timezone.utc) + timedelta(minutes=1)
    manifest = await bundle.export(engine, realm, WIDE_FROM, until, directory)
    assert (manifest["entries"], manifest["postings"], manifest["unsealed_entries_omitted"]) == (4, 8, 0)
    assert manifest["anchor_checkpoint"] >= 4
    return directory


async def test_a_fresh_bundle_verifies(exported):
    assert bundle.verify_bundle(exported) == []
    assert main(["verify-bundle", str(exported)]) == 0


def rewrite(path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, count), encoding="utf-8")


async def test_edited_jsonl_amount_is_named(exported):
    first = json.loads((exported / "entries.jsonl").read_text().splitlines()[1])
    posting = first["postings"][1]
    rewrite(exported / "entries.jsonl", f'"amount": {posting["amount"]}', f'"amount": {posting["amount"] + 1}')
    problems = bundle.verify_bundle(exported)
    assert "entries.jsonl: changed since export (SHA-256 differs from manifest.json)" in problems
    assert any(p.startswith(f"entries.jsonl line 2 (entry {first['id']}): not in the signed book") for p in problems)
    assert main(["verify-bundle", str(exported)]) == 1


async def test_edited_csv_is_named_even_with_the_manifest_fixed(exported):
    path = exported / "postings.csv"
    rows = list(csv.reader(path.open(encoding="utf-8")))
    rows[3][5] = str(int(rows[3][5]) * 10)
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    manifest = json.loads((exported / "manifest.json").read_text())
    manifest["files"]["postings.csv"] = bundle._sha256_file(path)
    (exported / "manifest.json").write_text(json.dumps(manifest))
    assert bundle.verify_bundle(exported) == [
        f"postings.csv line 4: posting {rows[3][1]}/{rows[3][2]} differs from the signed book in amount"]


async def test_dropped_checkpoint_and_forged_signature_are_named(exported):
    lines = (exported / "checkpoints.jsonl").read_text().splitlines()
    head = json.loads(lines[1])
    head["root_hash"] = "00" * 32
    (exported / "checkpoints.jsonl").write_text("\n".join([lines[0], json.dumps(head), *lines[2:]]) + "\n")
    problems = bundle.verify_bundle(exported)
    assert "checkpoints.jsonl line 2 (checkpoint 2): signature does not verify" in problems
    assert "checkpoints.jsonl line 2 (checkpoint 2): head hash does not match the head" in problems


async def test_cli_audit_and_checkpoint(ledger, realm, database_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("POINTSBANK_DATA_DIR", str(tmp_path))
    funding = await ledger.system_account(realm, "funding", "civic")
    budget = await ledger.system_account(realm, "budget", "civic")
    await ledger.post(model.EntryDraft(realm, "fund", (model.Line(funding["id"], -9),
                                                       model.Line(budget["id"], 9)), "test"))
    assert await asyncio.to_thread(main, ["checkpoint", "--realm", realm]) == 0
    assert f"realm={realm} seq=1 size=1" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["audit", "--realm", realm, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["realm"] == realm
    directory = tmp_path / "cli-bundle"
    assert await asyncio.to_thread(main, ["export", "--realm", realm, "--from", "2000-01-01T00:00:00+00:00",
                                          "--to", "2100-01-01T00:00:00+08:00", str(directory)]) == 0
    assert bundle.verify_bundle(directory) == []
