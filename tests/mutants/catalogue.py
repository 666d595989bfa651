"""The mutant catalogue (catalogue.toml): small deliberate breakages of the invariants,
each with the tests that must catch it. Pure: reading, checking and applying patches;
the runner (`python -m tests.mutants`, `make mutate`) does the running.

A mutant is one or more patches. A patch names a file, an exact `find` text and its
`replace` text; the find text must occur exactly once in the file, so a patch survives
lines moving around it and fails loudly when the definition it targets has changed or
moved to another file (then edit the mutant's `file`)."""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

CATALOGUE = Path(__file__).with_name("catalogue.toml")
MIGRATIONS_SQL = "migrations/sql"
_NAME = re.compile(r"^[a-z0-9_]{3,60}$")
# A SQL function or view definition: its name, and its body's span.
_SQL_DEFINITION = re.compile(
    r"CREATE (?:OR REPLACE )?(?:FUNCTION (\w+)\([^)]*\).*?\$\$.*?\$\$|VIEW (\w+) AS.*?;)", re.DOTALL)


class CatalogueError(Exception):
    """The catalogue is malformed, or a patch no longer matches its file."""


@dataclass(frozen=True)
class Patch:
    file: str
    find: str
    replace: str


@dataclass(frozen=True)
class Mutant:
    name: str
    invariant: str
    patches: tuple[Patch, ...]
    tests: tuple[str, ...]


def load(path: Path = CATALOGUE) -> list[Mutant]:
    with path.open("rb") as handle:
        raw = tomllib.load(handle)
    mutants = [_mutant(entry) for entry in raw.get("mutant", [])]
    names = [m.name for m in mutants]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise CatalogueError(f"mutant names used twice: {', '.join(duplicates)}")
    return mutants


def _mutant(entry: dict) -> Mutant:
    name = entry.get("name", "")
    if not _NAME.match(name):
        raise CatalogueError(f"a mutant's name is 3 to 60 of [a-z0-9_]: {name!r}")
    patches = [entry] + list(entry.get("also", []))
    for patch in patches:
        for key in ("file", "find", "replace"):
            if not isinstance(patch.get(key), str):
                raise CatalogueError(f"mutant {name}: every patch needs a {key!r} string")
        if patch["find"] == patch["replace"]:
            raise CatalogueError(f"mutant {name}: a patch that changes nothing")
    tests = tuple(entry.get("tests", ()))
    if not tests or not entry.get("invariant"):
        raise CatalogueError(f"mutant {name}: needs an invariant and at least one test")
    return Mutant(name, entry["invariant"],
                  tuple(Patch(p["file"], p["find"], p["replace"]) for p in patches), tests)


def check_patch(root: Path, patch: Patch) -> str:
    """The file's text, once the find text is known to occur in it exactly once."""
    target = root / patch.file
    if not target.is_file():
        raise CatalogueError(f"{patch.file}: no such file")
    text = target.read_text(encoding="utf-8")
    found = text.count(patch.find)
    if found != 1:
        raise CatalogueError(f"{patch.file}: the find text occurs {found} times, not once:\n"
                             f"{patch.find}")
    return text


def apply(root: Path, mutant: Mutant) -> dict[Path, str]:
    """Apply every patch of `mutant` under `root`; return the originals for `restore`."""
    originals: dict[Path, str] = {}
    try:
        for patch in mutant.patches:
            target = root / patch.file
            text = check_patch(root, patch)
            originals.setdefault(target, text)
            target.write_text(text.replace(patch.find, patch.replace), encoding="utf-8")
    except Exception:
        restore(originals)
        raise
    return originals


def restore(originals: dict[Path, str]) -> None:
    for target, text in originals.items():
        target.write_text(text, encoding="utf-8")


def test_files(mutant: Mutant) -> set[tuple[str, str]]:
    """(file, test function) of every node id, for checking that the tests still exist."""
    named = set()
    for node in mutant.tests:
        file, _, rest = node.partition("::")
        function = rest.split("::")[-1].split("[")[0] if rest else ""
        named.add((file, function))
    return named


def superseded_by(root: Path, patch: Patch) -> str | None:
    """For a patch inside a SQL function or view of a migration: the later migration that
    defines it again (so the patch would mutate a dead definition), else None."""
    if not patch.file.startswith(MIGRATIONS_SQL + "/"):
        return None
    text = check_patch(root, patch)
    at = text.index(patch.find)
    names = [m.group(1) or m.group(2) for m in _SQL_DEFINITION.finditer(text) if m.start() <= at < m.end()]
    if not names:
        return None
    later = sorted(f for f in (root / MIGRATIONS_SQL).glob("*.sql") if f.name > Path(patch.file).name)
    for migration in later:
        if re.search(rf"CREATE (?:OR REPLACE )?(?:FUNCTION|VIEW) {names[0]}\b", migration.read_text(encoding="utf-8")):
            return f"{MIGRATIONS_SQL}/{migration.name}"
    return None
