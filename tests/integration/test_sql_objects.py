"""SQL code in one place: each function and trigger is defined in exactly one file, the
runner applies a file when (and only when) it changes, and a database at the previous
head (0010, whose revisions carried the function bodies) upgrades in place to exactly
what a fresh database gets, then keeps its book."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import psycopg
import pytest

from api.app import build_services
from api.demo import DEMO_REALM, load_demo
from api.settings import Settings
from ledger import model
from ledger.audit import run_audit
from ledger.db import app_engine
from ledger.service import Ledger
from migrations import objects
from migrations.runner import upgrade
from tests.old_heads import function_definitions, restore_old_head, trigger_definitions

REPOSITORY = Path(__file__).resolve().parents[2]
SKIPPED_DIRECTORIES = {".venv", ".git", ".pointsbank", "node_modules", ".hypothesis", ".pytest_cache"}
DEFINITION = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:CONSTRAINT\s+)?(FUNCTION|TRIGGER)\s+(?:public\.)?(\w+)",
                        re.IGNORECASE)


def repository_files() -> list[Path]:
    return [path for path in REPOSITORY.rglob("*")
            if path.suffix in (".sql", ".py") and path.is_file()
            and not SKIPPED_DIRECTORIES & set(path.relative_to(REPOSITORY).parts)]


def definitions_by_name() -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = {}
    for path in repository_files():
        for match in DEFINITION.finditer(path.read_text(encoding="utf-8", errors="replace")):
            key = (match.group(1).lower(), match.group(2))
            found.setdefault(key, set()).add(str(path.relative_to(REPOSITORY)))
    return found


def test_each_function_and_trigger_is_defined_in_exactly_one_file():
    found = definitions_by_name()
    several = {f"{kind} {name}": sorted(files) for (kind, name), files in found.items() if len(files) > 1}
    assert several == {}
    assert ("function", "ledger_post_entry") in found and ("trigger", "postings_apply") in found


def test_each_object_file_defines_the_object_it_is_named_after():
    made = objects.repository_objects()
    assert len({item.path for item in made}) == len(made) > 80
    assert [item.kind for item in made] == sorted(item.kind for item in made)  # functions first
    for item in made:
        assert definitions_by_name()[(item.kind, item.name)] == {item.path}


def test_every_live_function_and_trigger_has_its_file(owner_conn):
    files = {(item.kind, item.name) for item in objects.repository_objects()}
    live = {("function", name.split("(")[0]) for name in function_definitions(owner_conn)}
    triggers = {name.split(".")[1] for name in trigger_definitions(owner_conn)}
    # made by a revision's pb_append_only(table) call (ledger/sql/pb_append_only.sql)
    append_only = {name[:-len("_append_only")] for name in triggers if name.endswith("_append_only")}
    live |= {("trigger", name) for name in triggers
             - {f"{table}_{suffix}" for table in append_only for suffix in ("append_only", "no_truncate")}}
    assert live - files == set()
    assert files - live == set()


def test_a_file_that_is_wrong_is_refused(tmp_path):
    (tmp_path / "two_things.sql").write_text(
        "CREATE OR REPLACE FUNCTION two_things() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n"
        "CREATE OR REPLACE FUNCTION another() RETURNS int LANGUAGE sql AS $$ SELECT 2 $$;\n")
    (tmp_path / "misnamed.sql").write_text(
        "CREATE OR REPLACE FUNCTION other_name() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n")
    for file in tmp_path.iterdir():
        with pytest.raises(ValueError, match="must create exactly one function"):
            objects.read_object(file, "probe")


def test_the_runner_applies_a_file_when_it_changes_and_only_then(new_database, tmp_path, monkeypatch):
    url = new_database()
    upgrade(url)
    package = tmp_path / "pb_probe_objects"
    (package / "sql").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("pb_probe_objects", None)
    answer = package / "sql" / "pb_probe_answer.sql"
    answer.write_text("CREATE OR REPLACE FUNCTION pb_probe_answer() RETURNS int "
                      "LANGUAGE sql AS $$ SELECT pb_probe_later() $$;\n")
    (package / "sql" / "pb_probe_later.sql").write_text(  # named after its caller: order is free
        "CREATE OR REPLACE FUNCTION pb_probe_later() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n")
    with psycopg.connect(url) as conn:
        assert objects.apply_changed(conn, ["pb_probe_objects"]) == [
            "pb_probe_objects/sql/pb_probe_answer.sql", "pb_probe_objects/sql/pb_probe_later.sql"]
        conn.commit()
        assert objects.apply_changed(conn, ["pb_probe_objects"]) == []
        answer.write_text(answer.read_text().replace("pb_probe_later()", "pb_probe_later() + 1"))
        assert objects.apply_changed(conn, ["pb_probe_objects"]) == ["pb_probe_objects/sql/pb_probe_answer.sql"]
        conn.commit()
        assert conn.execute("SELECT pb_probe_answer()").fetchone()[0] == 2
        assert conn.execute("SELECT current_setting('check_function_bodies')").fetchone()[0] == "on"


def test_a_second_upgrade_applies_nothing(database_url):
    with psycopg.connect(database_url) as conn:
        assert objects.apply_changed(conn) == []
        recorded = dict(conn.execute("SELECT path, checksum FROM schema_objects").fetchall())
    assert recorded == {item.path: item.checksum for item in objects.repository_objects()}


async def test_a_database_at_the_previous_head_upgrades_in_place(new_database, database_url, tmp_path):
    url = new_database()
    restore_old_head(url, "0010")
    realm = "430199"
    await book_some_points(url, realm)        # on the old functions

    before, after = upgrade(url)

    assert (before, after) == ("0010", current_head(database_url))
    with psycopg.connect(url) as upgraded, psycopg.connect(database_url) as fresh:
        assert function_definitions(upgraded) == function_definitions(fresh)
        assert trigger_definitions(upgraded) == trigger_definitions(fresh)
        recorded = dict(upgraded.execute("SELECT path, checksum FROM schema_objects").fetchall())
    assert recorded == {item.path: item.checksum for item in objects.repository_objects()}
    await book_some_points(url, realm, opened=True)   # the same book, on the new ones
    services = build_services(url, Settings(data_dir=tmp_path, key_dir=tmp_path / "keys", seal_interval_s=0))
    try:
        await load_demo(services)   # funds, awards, vouchers, a redemption, a settlement, a seal
        for code in (realm, DEMO_REALM):
            report = await run_audit(services.engine, code)
            assert report.ok, report.as_json()
    finally:
        await services.close()


async def book_some_points(url: str, realm: str, opened: bool = False) -> None:
    engine = app_engine(url, pool_size=2)
    ledger = Ledger(engine)
    try:
        if not opened:
            await ledger.open_realm(realm, "升级测试")
        funding = await ledger.system_account(realm, "funding", "civic")
        budget = await ledger.system_account(realm, "budget", "civic")
        entry = await ledger.post(model.EntryDraft(realm, "fund", (
            model.Line(funding["id"], -50), model.Line(budget["id"], 50)), "test"))
        assert entry["postings"][1]["balance_after"] % 50 == 0
    finally:
        await ledger.close()
        await engine.dispose()


def current_head(database_url: str) -> str:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
