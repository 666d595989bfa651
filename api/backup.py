"""Backup and restore of the book: the whole database with `pg_dump` / `pg_restore` in
custom format (every table, the key registry and `alembic_version` among them: no list
of tables here), and optionally the signing-key directory as an owner-only archive.

`pg_dump` must be of the server's major version or newer. The candidates are the
binaries inside the `pgserver` package (PostgreSQL 16, the embedded server's own),
`/usr/lib/postgresql/*/bin`, `$PATH`, and `$POINTSBANK_PG_BIN` first when set; the one of
the server's own major version is preferred (so the server's own tools can read the
file), else the oldest newer one.

A restore goes only into an empty database, in one transaction (all or nothing), with
objects owned by the restoring user (`--no-owner`, the same model as the migrations);
then the migrations run to head, so an older backup comes up in this version's schema.
The application role `pointsbank_app` is cluster-wide, not in any dump: the restore
creates it when missing and grants it to the restoring user, and the dump's own GRANTs
give it back its rights on every table.
"""
from __future__ import annotations

import glob
import importlib.util
import io
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

Progress = Callable[[str], None]

ARCHIVE_MAGIC = b"PGDMP"          # the first bytes of a custom-format archive
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
ERROR_LINES_MAX = 3               # lines of a failed tool's stderr quoted back

# Roles are cluster-wide: a fresh server has no `pointsbank_app` until a migration (or a
# restore) makes it. Mirrors the first lines of migrations/sql/0001_ledger.sql.
APP_ROLE_SQL = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pointsbank_app') THEN
        CREATE ROLE pointsbank_app NOLOGIN;
    END IF;
    IF NOT pg_has_role(current_user, 'pointsbank_app', 'MEMBER') THEN
        EXECUTE format('GRANT pointsbank_app TO %I', current_user);
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE EXCEPTION 'role pointsbank_app is missing or not granted to %, and % may not '
                    'create or grant it: ask the database administrator', current_user, current_user;
END $$;
"""
# Relations that make a database "not empty": anything outside the system schemas.
USER_RELATIONS_SQL = """
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
"""
USER_TABLES_SQL = USER_RELATIONS_SQL.replace("('r', 'p', 'v', 'm', 'S')", "('r', 'p')")


class BackupMistake(Exception):
    """The operator's input is wrong (missing file, unwritable path, non-empty target)."""


class ToolProblem(Exception):
    """No fitting pg_dump/pg_restore, or it failed."""


@dataclass(frozen=True)
class PgTool:
    path: Path
    major: int

    def __str__(self) -> str:
        return f"{self.path} (PostgreSQL {self.major})"


@dataclass(frozen=True)
class Outcome:
    tables: int
    size_bytes: int
    tool: PgTool


# the tools --------------------------------------------------------------------------------

def tool_candidates(name: str) -> list[Path]:
    directories = [os.environ.get("POINTSBANK_PG_BIN", "")]
    embedded = importlib.util.find_spec("pgserver")  # found, not imported (it warns on import)
    if embedded and embedded.origin:
        directories.append(str(Path(embedded.origin).parent / "pginstall" / "bin"))
    directories += sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    found = [Path(d) / name for d in directories if d and (Path(d) / name).is_file()]
    on_path = shutil.which(name)
    if on_path:
        found.append(Path(on_path))
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def tool_major(path: Path) -> int | None:
    try:
        answer = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    match = re.search(r"\)\s+(\d+)", answer.stdout)
    return int(match.group(1)) if answer.returncode == 0 and match else None


def fitting_tools(name: str, server_major: int) -> list[PgTool]:
    """The tools of `server_major` or newer, the best first (same major, then the oldest
    newer one); ToolProblem when there is none."""
    tools = [PgTool(path, major) for path in tool_candidates(name)
             if (major := tool_major(path)) is not None]
    fitting = sorted((t for t in tools if t.major >= server_major), key=lambda t: t.major)
    if not fitting:
        seen = ", ".join(str(t) for t in tools) or "none"
        raise ToolProblem(f"no {name} of PostgreSQL {server_major} or newer (found: {seen}); install "
                          f"postgresql-client-{server_major} or point POINTSBANK_PG_BIN at its bin directory")
    return fitting


# the database -----------------------------------------------------------------------------

def libpq_target(database_url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password (argv is visible to other users) and the
    environment that carries the password instead."""
    url = make_url(database_url)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def server_major(database_url: str) -> int:
    with psycopg.connect(libpq_target(database_url)[0], **_password(database_url)) as conn:
        return int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000


def _count(database_url: str, sql: str) -> int:
    with psycopg.connect(libpq_target(database_url)[0], **_password(database_url)) as conn:
        return int(conn.execute(sql).fetchone()[0])


def _password(database_url: str) -> dict[str, str]:
    password = make_url(database_url).password
    return {"password": str(password)} if password else {}


# backup -----------------------------------------------------------------------------------

def backup(database_url: str, file: Path, progress: Progress | None = None) -> Outcome:
    """Dump the whole database to `file` (custom format, mode 0600). Written beside it
    first and renamed at the end, so `file` is either the old one or a complete new one."""
    _check_writable(file)
    tool = fitting_tools("pg_dump", server_major(database_url))[0]
    tables = _count(database_url, USER_TABLES_SQL)
    partial = file.with_name(file.name + ".partial")
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE))
    url, env = libpq_target(database_url)
    try:
        _run(tool, ["--format=custom", "--verbose", f"--file={partial}", f"--dbname={url}"], env,
             "dumping contents of table", tables, "backup", progress)
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        partial.replace(file)
    finally:
        partial.unlink(missing_ok=True)
    return Outcome(tables, file.stat().st_size, tool)


def _check_writable(file: Path) -> None:
    directory = file.parent
    if not directory.is_dir():
        raise BackupMistake(f"cannot write {file}: there is no directory {directory}")
    if file.is_dir():
        raise BackupMistake(f"cannot write {file}: it is a directory")
    if not os.access(directory, os.W_OK | os.X_OK) or (file.exists() and not os.access(file, os.W_OK)):
        raise BackupMistake(f"cannot write {file}: permission denied")


# restore ----------------------------------------------------------------------------------

def restore(database_url: str, file: Path, progress: Progress | None = None) -> Outcome:
    """Load `file` into the (empty) database in one transaction, then migrate to head."""
    from migrations.runner import upgrade

    _check_archive(file)
    relations = _count(database_url, USER_RELATIONS_SQL)
    if relations:
        raise BackupMistake(f"the target database is not empty ({relations} tables, views or sequences); "
                            "restore only into a new, empty database")
    tool, tables = _restorer(file, server_major(database_url))
    with psycopg.connect(libpq_target(database_url)[0], autocommit=True, **_password(database_url)) as conn:
        try:
            conn.execute(APP_ROLE_SQL)
        except psycopg.errors.RaiseException as exc:
            raise BackupMistake(exc.diag.message_primary or str(exc)) from None
    url, env = libpq_target(database_url)
    _run(tool, ["--verbose", "--no-owner", "--single-transaction", f"--dbname={url}", str(file)], env,
         "processing data for table", tables, "restore", progress)
    upgrade(database_url)
    return Outcome(tables, file.stat().st_size, tool)


def _check_archive(file: Path) -> None:
    if not file.is_file():
        raise BackupMistake(f"no backup file {file}")
    try:
        with open(file, "rb") as handle:
            magic = handle.read(len(ARCHIVE_MAGIC))
    except PermissionError:
        raise BackupMistake(f"cannot read {file}: permission denied") from None
    if magic != ARCHIVE_MAGIC:
        raise BackupMistake(f"{file} is not a backup made by `pointsbank backup` (pg_dump custom format)")


def _restorer(file: Path, major: int) -> tuple[PgTool, int]:
    """The first fitting pg_restore that can read the archive (a newer pg_dump writes a
    format older tools refuse), and the number of tables whose data it holds."""
    refusals = []
    for tool in fitting_tools("pg_restore", major):
        listing = subprocess.run([str(tool.path), "--list", str(file)], capture_output=True, text=True)
        if listing.returncode == 0:
            return tool, sum(" TABLE DATA " in line for line in listing.stdout.splitlines())
        refusals.append(f"{tool}: {_first_error(listing.stderr)}")
    raise ToolProblem("no pg_restore here reads this backup (" + "; ".join(refusals) + ")")


# running a tool ---------------------------------------------------------------------------

def _run(tool: PgTool, arguments: list[str], env: dict[str, str], marker: str, total: int,
         doing: str, progress: Progress | None) -> None:
    """Run the tool; count its --verbose lines that contain `marker` as progress."""
    process = subprocess.Popen([str(tool.path), *arguments], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    done, errors = 0, []
    for line in process.stderr:
        if marker in line:
            done += 1
            if progress:
                progress(f"{doing}: {done}/{total} tables")
        elif "error" in line.lower() or "fatal" in line.lower():
            errors.append(line.strip())
    if process.wait() != 0:
        raise ToolProblem(f"{tool.path.name} failed: " + (" | ".join(errors[:ERROR_LINES_MAX]) or
                                                           f"exit status {process.returncode}"))


def _first_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[0] if lines else "refused"


# the signing keys -------------------------------------------------------------------------

def write_key_archive(key_dir: Path, archive: Path) -> int:
    """The key directory's files as a gzipped tar, mode 0600; answers how many files."""
    if not key_dir.is_dir():
        raise BackupMistake(f"no key directory {key_dir} (POINTSBANK_KEY_DIR)")
    _check_writable(archive)
    files = sorted(p for p in key_dir.iterdir() if p.is_file() and not p.name.endswith(".tmp"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in files:
            tar.add(path, arcname=path.name)
    fd = os.open(archive, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(buffer.getvalue())
        os.fsync(handle.fileno())
    os.chmod(archive, PRIVATE_FILE_MODE)
    return len(files)


def read_key_archive(archive: Path, key_dir: Path) -> int:
    """Put the archive's key files into `key_dir` (made 0700; files 0600). A file that
    exists with other contents is refused: keys are never overwritten."""
    if not archive.is_file():
        raise BackupMistake(f"no key archive {archive}")
    try:
        tar = tarfile.open(archive, mode="r:gz")
    except tarfile.TarError:
        raise BackupMistake(f"{archive} is not a key archive made by `pointsbank backup --keys`") from None
    with tar:
        members = [m for m in tar.getmembers() if m.isfile() and "/" not in m.name and m.name not in ("", ".", "..")]
        contents = {m.name: tar.extractfile(m).read() for m in members}  # type: ignore[union-attr]
    clashes = [name for name, body in contents.items()
               if (key_dir / name).exists() and (key_dir / name).read_bytes() != body]
    if clashes:
        raise BackupMistake(f"{key_dir} already holds other keys named {', '.join(sorted(clashes))}; "
                            "restore the keys into an empty directory")
    key_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(key_dir, PRIVATE_DIR_MODE)
    for name, body in contents.items():
        fd = os.open(key_dir / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
    return len(contents)
