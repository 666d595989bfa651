"""The mutant catalogue stays runnable: every patch still finds its text exactly once, and
every test it names still exists (`make mutate` runs the mutants themselves)."""
from pathlib import Path

import pytest

from tests.mutants import catalogue

ROOT = Path(__file__).resolve().parents[2]
MUTANTS = catalogue.load()


def test_the_catalogue_covers_the_invariants_kinds():
    assert len(MUTANTS) >= 36
    names = {m.name for m in MUTANTS}
    for prefix in ("floor_", "append_only_", "zero_sum_", "replay_hash_", "reversal_", "capture_once",
                   "partial_remainder", "award_formula", "daily_cap", "budget_", "settlement_", "audit_",
                   "leaf_", "scope_", "signature_"):
        assert any(name.startswith(prefix) for name in names), prefix


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_each_patch_matches_once_in_the_newest_definition_and_each_test_exists(mutant):
    for patch in mutant.patches:
        catalogue.check_patch(ROOT, patch)
        newer = catalogue.superseded_by(ROOT, patch)   # retarget the mutant's `file` there
        assert newer is None, f"{mutant.name}: {patch.file} is redefined in {newer}"
    for file, function in catalogue.test_files(mutant):
        source = (ROOT / file).read_text(encoding="utf-8")
        assert not function or f"def {function}(" in source, f"{mutant.name}: no {file}::{function}"


def test_a_patch_in_a_redefined_function_is_named(tmp_path):
    sql = tmp_path / catalogue.MIGRATIONS_SQL
    sql.mkdir(parents=True)
    (sql / "0001_a.sql").write_text("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n")
    (sql / "0002_b.sql").write_text("CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 2 $$;\n")
    old = catalogue.Patch(f"{catalogue.MIGRATIONS_SQL}/0001_a.sql", "SELECT 1", "SELECT 0")
    new = catalogue.Patch(f"{catalogue.MIGRATIONS_SQL}/0002_b.sql", "SELECT 2", "SELECT 0")
    assert catalogue.superseded_by(tmp_path, old) == f"{catalogue.MIGRATIONS_SQL}/0002_b.sql"
    assert catalogue.superseded_by(tmp_path, new) is None


def test_a_patch_whose_text_is_gone_or_repeated_is_refused(tmp_path):
    (tmp_path / "rule.py").write_text("x = 1\nx = 1\n")
    for find in ("y = 2", "x = 1"):
        with pytest.raises(catalogue.CatalogueError, match="not once"):
            catalogue.check_patch(tmp_path, catalogue.Patch("rule.py", find, "x = 2"))


def test_apply_then_restore_leaves_the_file_as_it_was(tmp_path):
    (tmp_path / "rule.sql").write_text("SELECT a >= b;\n")
    mutant = catalogue.Mutant("m_one", "i", (catalogue.Patch("rule.sql", ">= b", ">= b - 1"),), ("t",))
    originals = catalogue.apply(tmp_path, mutant)
    assert (tmp_path / "rule.sql").read_text() == "SELECT a >= b - 1;\n"
    catalogue.restore(originals)
    assert (tmp_path / "rule.sql").read_text() == "SELECT a >= b;\n"
