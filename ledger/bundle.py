"""Verifiable exports: a directory an auditor checks with no database and no network.

A bundle holds one realm's sealed entries created in a time window:

- `entries.csv`, `postings.csv`   for spreadsheets;
- `entries.jsonl`                 one entry per line with its postings, for tools;
- `proofs.jsonl`                  each entry's inclusion proof in the last checkpoint;
- `checkpoints.jsonl`             every signed checkpoint head of the realm, each with
                                  a consistency proof from the one before;
- `keys.json`                     the ledger's public keys (the key registry's);
- `manifest.json`                 realm, window, counts, SHA-256 of every file.

`verify_bundle` recomputes each entry's leaf from `entries.jsonl`, checks its inclusion
proof against the last checkpoint's root, checks every head's signature, chain and
consistency, and that the CSV files say what the JSON Lines say. Only sealed entries are
exported (run a checkpoint first); entries of the window not yet sealed are counted in
the manifest. A bundle proves that what it holds is in the signed book; it cannot prove
that no entry of the window was left out.
"""
from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger import checkpoint_repository, checkpoints, errors, key_registry, merkle
from ledger.keys import public_key_from_json

BUNDLE_FORMAT = "pointsbank-bundle-v1"
PROBLEMS_SHOWN_MAX = 100
ENTRY_FIELDS = ("realm", "id", "kind", "reverses_entry_id", "reference", "memo", "created_by",
                "created_at", "created_at_us", "leaf_index")
POSTING_FIELDS = ("realm", "entry_id", "account_id", "account_seq", "asset", "amount", "balance_after")
DATA_FILES = ("entries.csv", "postings.csv", "entries.jsonl", "proofs.jsonl",
              "checkpoints.jsonl", "keys.json")

Progress = Callable[[str], None]


# export --------------------------------------------------------------------------------

async def export(engine: AsyncEngine, realm: str, start: datetime, end: datetime,
                 directory: Path, progress: Progress | None = None) -> dict[str, Any]:
    """Write the bundle of `realm`'s entries created in [start, end) to `directory`."""
    if start.tzinfo is None or end.tzinfo is None or start >= end:
        raise errors.InvalidTimestamp("the window is two timestamps with offsets, from before to")
    say = progress or (lambda message: None)
    async with engine.connect() as conn:
        await conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        if not await checkpoint_repository.realm_exists(conn, realm):
            raise errors.RealmNotFound(f"no realm {realm}", realm=realm)
        heads = await checkpoint_repository.all_checkpoints(conn, realm)
        if not heads:
            raise errors.CheckpointNotFound(f"realm {realm} has no checkpoint yet: seal one first")
        anchor = heads[-1]
        say(f"loading {anchor['tree_size']} leaves")
        tree = merkle.Tree(await checkpoint_repository.leaf_hashes(conn, realm, anchor["tree_size"]))
        directory.mkdir(parents=True, exist_ok=True)
        _write_checkpoints(directory, heads, tree)
        _write_json(directory / "keys.json",
                    {"keys": [k.as_json() for k in await key_registry.registered_keys(conn)]})
        counts = await _write_entries(conn, directory, realm, start, end, anchor, tree, say)
        unsealed = (await conn.execute(text(
            "SELECT count(*) FROM entries e "
            + checkpoint_repository.sealed_probe("e.realm", "e.id", "c.leaf_index < :size")
            + " WHERE e.realm = :realm AND e.created_at >= :start AND e.created_at < :end"
            " AND done.sealed IS NULL"),
            {"realm": realm, "start": start, "end": end, "size": anchor["tree_size"]})).scalar_one()
        await conn.rollback()
    manifest = {"format": BUNDLE_FORMAT, "realm": realm, "from": start.isoformat(),
                "to": end.isoformat(), "anchor_checkpoint": anchor["seq"], **counts,
                "unsealed_entries_omitted": unsealed,
                "files": {name: _sha256_file(directory / name) for name in DATA_FILES}}
    _write_json(directory / "manifest.json", manifest)
    return manifest


def _write_checkpoints(directory: Path, heads: list[dict[str, Any]], tree: merkle.Tree) -> None:
    with open(directory / "checkpoints.jsonl", "w", encoding="utf-8") as out:
        previous = None
        for head in heads:
            record = checkpoints.head_json(head)
            record["consistency_from_previous"] = (
                [h.hex() for h in tree.consistency_proof(previous["tree_size"], head["tree_size"])]
                if previous else [])
            out.write(json.dumps(record, sort_keys=True) + "\n")
            previous = head


async def _write_entries(conn: AsyncConnection, directory: Path, realm: str, start: datetime,
                         end: datetime, anchor: dict[str, Any], tree: merkle.Tree,
                         say: Progress) -> dict[str, int]:
    entry_count = posting_count = 0
    with open(directory / "entries.csv", "w", newline="", encoding="utf-8") as entries_csv, \
            open(directory / "postings.csv", "w", newline="", encoding="utf-8") as postings_csv, \
            open(directory / "entries.jsonl", "w", encoding="utf-8") as entries_jsonl, \
            open(directory / "proofs.jsonl", "w", encoding="utf-8") as proofs_jsonl:
        entry_writer, posting_writer = csv.writer(entries_csv), csv.writer(postings_csv)
        entry_writer.writerow(ENTRY_FIELDS)
        posting_writer.writerow(POSTING_FIELDS)
        async for entry in _sealed_entries(conn, realm, start, end, anchor["tree_size"]):
            entry_writer.writerow([_csv_value(entry[name]) for name in ENTRY_FIELDS])
            for posting in entry["postings"]:
                posting_writer.writerow([_csv_value(posting[name]) for name in POSTING_FIELDS])
            entries_jsonl.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
            proof = tree.inclusion_proof(entry["leaf_index"], anchor["tree_size"])
            proofs_jsonl.write(json.dumps({"entry_id": entry["id"], "leaf_index": entry["leaf_index"],
                                           "proof": [h.hex() for h in proof]}) + "\n")
            entry_count += 1
            posting_count += len(entry["postings"])
            if entry_count % 10_000 == 0:
                say(f"exported {entry_count} entries")
    return {"entries": entry_count, "postings": posting_count}


async def _sealed_entries(conn: AsyncConnection, realm: str, start: datetime, end: datetime,
                          size: int) -> AsyncIterator[dict[str, Any]]:
    result = await conn.stream(text("""
        SELECT e.realm, e.id, e.kind, e.reverses_entry_id, e.reference, e.memo, e.created_by,
               e.created_at, audit_micros(e.created_at) AS created_at_us, c.leaf_index,
               (SELECT jsonb_agg(jsonb_build_object(
                           'realm', p.realm, 'entry_id', p.entry_id, 'account_id', p.account_id,
                           'account_seq', p.account_seq, 'asset', p.asset, 'amount', p.amount,
                           'balance_after', p.balance_after) ORDER BY p.account_id)
                  FROM postings p WHERE p.realm = e.realm AND p.entry_id = e.id) AS postings
          FROM entries e
          JOIN checkpoint_entries c ON c.realm = e.realm AND c.entry_id = e.id
         WHERE e.realm = :realm AND e.created_at >= :start AND e.created_at < :end
           AND c.leaf_index < :size
         ORDER BY e.id"""), {"realm": realm, "start": start, "end": end, "size": size})
    async for row in result:
        entry = dict(row._mapping)
        entry["created_at"] = entry["created_at"].isoformat()
        entry["postings"] = entry["postings"] or []
        yield entry


def _csv_value(value: Any) -> str:
    return "" if value is None else str(value)


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# verification (no database, no network) ------------------------------------------------

class Findings:
    """Problems found, each naming the file and what in it; capped for display."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.count = 0

    def add(self, problem: str) -> None:
        self.count += 1
        if len(self.problems) < PROBLEMS_SHOWN_MAX:
            self.problems.append(problem)


def verify_bundle(directory: Path) -> list[str]:
    """Every problem with the bundle in `directory`; empty when it verifies."""
    findings = Findings()
    manifest = _read_json(directory / "manifest.json", findings)
    if manifest is None:
        return findings.problems
    for name, expected in manifest.get("files", {}).items():
        if not (directory / name).exists():
            findings.add(f"{name}: missing")
        elif _sha256_file(directory / name) != expected:
            findings.add(f"{name}: changed since export (SHA-256 differs from manifest.json)")
    keys = _read_keys(directory, findings)
    heads = _verify_checkpoints(directory, keys, findings)
    if heads:
        anchor = next((h for h in heads if h["seq"] == manifest.get("anchor_checkpoint")), heads[-1])
        entries = _verify_entries(directory, anchor, manifest, findings)
        _verify_csv(directory, entries, findings)
    else:
        findings.add("checkpoints.jsonl: no checkpoint to verify against")
    if findings.count > len(findings.problems):
        findings.problems.append(f"... and {findings.count - len(findings.problems)} more")
    return findings.problems


def _read_json(path: Path, findings: Findings) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        findings.add(f"{path.name}: unreadable ({exc})")
        return None


def _read_jsonl(path: Path, findings: Findings) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                try:
                    yield number, json.loads(line)
                except ValueError:
                    findings.add(f"{path.name} line {number}: not JSON")
    except OSError as exc:
        findings.add(f"{path.name}: unreadable ({exc})")


def _read_keys(directory: Path, findings: Findings) -> dict[int, list[Any]]:
    """The ledger keys by every id a checkpoint may name them by: the registry id, and
    the legacy directory id of a key that signed before the registry."""
    raw = _read_json(directory / "keys.json", findings) or {}
    keys: dict[int, list[Any]] = {}
    for item in raw.get("keys", []):
        try:
            key = public_key_from_json(item)
        except (KeyError, ValueError) as exc:
            findings.add(f"keys.json: a key is malformed ({exc})")
            continue
        if key.purpose == checkpoints.KEY_PURPOSE:
            for key_id in {key.kid, item.get("legacy_kid")} - {None}:
                keys.setdefault(int(key_id), []).append(key)
    return keys


def _verify_checkpoints(directory: Path, keys: dict[int, list[Any]], findings: Findings) -> list[dict[str, Any]]:
    def verify(key_id: int, message: bytes, signature: bytes) -> bool:
        return any(key.verify(message, signature) for key in keys.get(key_id, []))

    heads: list[dict[str, Any]] = []
    previous = None
    for number, head in _read_jsonl(directory / "checkpoints.jsonl", findings):
        where = f"checkpoints.jsonl line {number} (checkpoint {head.get('seq')})"
        try:
            for problem in checkpoints.head_problems(head, previous, verify):
                findings.add(f"{where}: {problem}")
            if previous and not merkle.verify_consistency(
                    previous["tree_size"], head["tree_size"], bytes.fromhex(previous["root_hash"]),
                    bytes.fromhex(head["root_hash"]),
                    [bytes.fromhex(h) for h in head["consistency_from_previous"]]):
                findings.add(f"{where}: not an extension of checkpoint {previous['seq']} "
                             "(consistency proof fails)")
        except (KeyError, TypeError, ValueError) as exc:
            findings.add(f"{where}: malformed ({exc})")
            continue
        heads.append(head)
        previous = head
    return heads


def _verify_entries(directory: Path, anchor: dict[str, Any], manifest: dict[str, Any],
                    findings: Findings) -> dict[int, dict[str, Any]]:
    proofs = {p["entry_id"]: p for _, p in _read_jsonl(directory / "proofs.jsonl", findings)}
    root, size = bytes.fromhex(anchor["root_hash"]), anchor["tree_size"]
    entries: dict[int, dict[str, Any]] = {}
    for number, entry in _read_jsonl(directory / "entries.jsonl", findings):
        where = f"entries.jsonl line {number} (entry {entry.get('id')})"
        try:
            leaf = merkle.entry_leaf_hash(entry, entry["postings"])
            proof = proofs.get(entry["id"])
            if proof is None or proof["leaf_index"] != entry["leaf_index"]:
                findings.add(f"{where}: no inclusion proof")
            elif not merkle.verify_inclusion(leaf, entry["leaf_index"], size,
                                             [bytes.fromhex(h) for h in proof["proof"]], root):
                findings.add(f"{where}: not in the signed book as written "
                             f"(inclusion in checkpoint {anchor['seq']} fails)")
            for problem in _unhashed_field_problems(entry):
                findings.add(f"{where}: {problem}")
            if entry["realm"] != manifest.get("realm"):
                findings.add(f"{where}: belongs to realm {entry['realm']}, not the bundle's")
        except (KeyError, TypeError, ValueError) as exc:
            findings.add(f"{where}: malformed ({exc})")
            continue
        entries[entry["id"]] = entry
    if len(entries) != manifest.get("entries"):
        findings.add(f"entries.jsonl: {len(entries)} entries, manifest.json says {manifest.get('entries')}")
    return entries


def _unhashed_field_problems(entry: dict[str, Any]) -> list[str]:
    """Fields shown beside the hashed ones must agree with them."""
    problems = []
    if checkpoints.micros(datetime.fromisoformat(entry["created_at"])) != entry["created_at_us"]:
        problems.append("created_at differs from the sealed created_at_us")
    for posting in entry["postings"]:
        if (posting["realm"], posting["entry_id"]) != (entry["realm"], entry["id"]):
            problems.append(f"posting on account {posting['account_id']} names another entry")
    return problems


def _verify_csv(directory: Path, entries: dict[int, dict[str, Any]], findings: Findings) -> None:
    """The spreadsheet files say exactly what the verified JSON Lines say."""
    expected_entries = {(str(e["id"]),): [_csv_value(e[name]) for name in ENTRY_FIELDS]
                        for e in entries.values()}
    expected_postings = {(str(p["entry_id"]), str(p["account_id"])): [_csv_value(p[name]) for name in POSTING_FIELDS]
                         for e in entries.values() for p in e["postings"]}
    _compare_csv(directory / "entries.csv", ENTRY_FIELDS, expected_entries, (1,), findings, "entry")
    _compare_csv(directory / "postings.csv", POSTING_FIELDS, expected_postings, (1, 2), findings, "posting")


def _compare_csv(path: Path, fields: tuple[str, ...], expected: dict[tuple[str, ...], list[str]],
                 key_columns: tuple[int, ...], findings: Findings, noun: str) -> None:
    seen = set()
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = csv.reader(handle)
            if next(rows, None) != list(fields):
                findings.add(f"{path.name}: header changed")
            for number, row in enumerate(rows, 2):
                key = tuple(row[i] if i < len(row) else "" for i in key_columns)
                want = expected.get(key)
                if want is None:
                    findings.add(f"{path.name} line {number}: {noun} {'/'.join(key)} is not in entries.jsonl")
                    continue
                seen.add(key)
                changed = [fields[i] for i in range(len(fields)) if i >= len(row) or row[i] != want[i]]
                if changed or len(row) != len(fields):
                    findings.add(f"{path.name} line {number}: {noun} {'/'.join(key)} differs from the signed "
                                 f"book in {', '.join(changed) or 'its column count'}")
    except OSError as exc:
        findings.add(f"{path.name}: unreadable ({exc})")
        return
    for key in sorted(set(expected) - seen):
        findings.add(f"{path.name}: {noun} {'/'.join(key)} is missing")
