"""The SQL functions and triggers: one file each, `<package>/sql/<name>.sql` (a function)
or `<package>/sql/<name>.trigger.sql` (a trigger), the one current definition of that
object. Revisions (migrations/versions) hold tables, indexes, constraints, grants and
data; these files hold code.

After `alembic upgrade head`, `apply_changed` runs every file whose content differs
from what the database last ran (a SHA-256 per file in `schema_objects`, made by
revision 0011): all functions first, then all triggers, in one transaction, with
`check_function_bodies` off so that functions may name each other in any order. A file
that did not change is not run again. A function whose file is deleted stays in the
database (nothing drops it): drop it in a revision if it must go.

A function file holds one `CREATE OR REPLACE FUNCTION` (its grants may follow); a trigger
file one `CREATE OR REPLACE TRIGGER`, or, for a constraint trigger (which PostgreSQL
cannot replace in place), `DROP TRIGGER IF EXISTS` then `CREATE CONSTRAINT TRIGGER`."""
from __future__ import annotations

import hashlib
import importlib.util
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from psycopg import Connection

# The packages whose `sql/` directories hold functions and triggers. A new package with
# SQL of its own: add its name here (one line), nothing else.
PACKAGES = ("ledger", "access", "earning", "redemption", "merchants", "orders", "feedback", "resources", "notify", "insight")

TRIGGER_SUFFIX = ".trigger.sql"
_CREATES = re.compile(r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:CONSTRAINT\s+)?(FUNCTION|TRIGGER)\s+(\w+)",
                      re.IGNORECASE | re.MULTILINE)
_RECORD = ("INSERT INTO schema_objects (path, kind, name, checksum) VALUES (%s, %s, %s, %s) "
           "ON CONFLICT (path) DO UPDATE SET kind = excluded.kind, name = excluded.name, "
           "checksum = excluded.checksum, applied_at = now()")


@dataclass(frozen=True)
class SqlObject:
    path: str       # relative to the packages' parent, e.g. "ledger/sql/ledger_post_entry.sql"
    kind: str       # "function" or "trigger"
    name: str
    sql: str

    @property
    def checksum(self) -> bytes:
        return hashlib.sha256(self.sql.encode("utf-8")).digest()


def package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise LookupError(f"no package {package!r} (migrations/objects.py PACKAGES)")
    return Path(spec.origin).parent


def read_object(file: Path, package: str) -> SqlObject:
    """The object a file defines; ValueError unless it defines exactly one, named as the file."""
    sql = file.read_text(encoding="utf-8")
    kind = "trigger" if file.name.endswith(TRIGGER_SUFFIX) else "function"
    name = file.name.removesuffix(TRIGGER_SUFFIX if kind == "trigger" else ".sql")
    made = [(found.group(1).lower(), found.group(2)) for found in _CREATES.finditer(_without_comments(sql))]
    if made != [(kind, name)]:
        raise ValueError(f"{package}/sql/{file.name} must create exactly one {kind} named {name}, "
                         f"not {made or 'nothing'}")
    return SqlObject(f"{package}/sql/{file.name}", kind, name, sql)


def repository_objects(packages: Iterable[str] = PACKAGES) -> list[SqlObject]:
    """Every function and trigger file, functions first, each group by path."""
    found = [read_object(file, package) for package in packages
             for file in sorted((package_dir(package) / "sql").glob("*.sql"))]
    return sorted(found, key=lambda o: (o.kind != "function", o.path))


def apply_changed(conn: Connection, packages: Iterable[str] = PACKAGES) -> list[str]:
    """Run the files whose checksums the database has not recorded, in `conn`'s open
    transaction (the caller commits); answer their paths. Needs revision 0011."""
    recorded = dict(conn.execute("SELECT path, checksum FROM schema_objects").fetchall())
    changed = [o for o in repository_objects(packages) if recorded.get(o.path) != o.checksum]
    run(conn, changed)
    for item in changed:
        conn.execute(_RECORD, (item.path, item.kind, item.name, item.checksum))
    return [item.path for item in changed]


def apply_named(conn: Connection, paths: Iterable[str]) -> None:
    """Run some files now, unrecorded: for a revision whose data step calls a function
    (the runner records and, if need be, runs them again after the revisions)."""
    paths = list(paths)
    found = {o.path: o for o in repository_objects(sorted({path.split("/", 1)[0] for path in paths}))}
    run(conn, [found[path] for path in paths])


def run(conn: Connection, objects: list[SqlObject]) -> None:
    if not objects:
        return
    checking = conn.execute("SELECT current_setting('check_function_bodies')").fetchone()[0]
    conn.execute("SET LOCAL check_function_bodies = off")
    for item in objects:
        # no parameters: `%` and `:` in PL/pgSQL reach the server untouched
        conn.execute(item.sql)
    conn.execute("SELECT set_config('check_function_bodies', %s, true)", (checking,))


def _without_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)
