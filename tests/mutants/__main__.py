"""Run the mutant catalogue: `python -m tests.mutants [--only a,b] [--list]` (`make mutate`).

Copies the working tree (tracked and untracked, not ignored files) to a scratch
directory once, then for each mutant: applies its patches there, runs only its named
tests with `pytest -x` (a fresh, freshly migrated database per run: the test fixtures make
one per session), and restores the files. A mutant is killed when one of its tests fails
(a set-up that breaks, such as a migration that no longer runs, is an ERROR, not a kill);
it survives when they pass. Before the mutants, the same tests run once on the unmutated
copy: a test that fails anyway kills nothing.

The database: DATABASE_URL when set, else the embedded PostgreSQL under
./.pointsbank/test, started once here and shared by every run. Exit status: 0 when every
mutant is killed, 1 otherwise."""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from tests.mutants import catalogue

ROOT = Path(__file__).resolve().parents[2]
MUTANT_TIMEOUT_S = 900      # one mutant's tests; longer counts as a failure to investigate
FAILURE_SHOWN_CHARS = 200   # of the failing test's summary line, per killed mutant
TAIL_SHOWN_LINES = 25       # of pytest's output, for a mutant in ERROR (or with --show)
KILLED, SURVIVED, ERROR, TIMEOUT = "killed", "SURVIVED", "ERROR", "TIMEOUT"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutants", description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="comma-separated mutant names")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--show", action="store_true", help="print the end of pytest's output for each mutant")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip running the tests once on the unmutated copy")
    args = parser.parse_args(argv)
    try:
        mutants = selected(catalogue.load(), args.only)
        for mutant in mutants:          # every patch must still match before anything runs
            for patch in mutant.patches:
                catalogue.check_patch(ROOT, patch)
    except catalogue.CatalogueError as problem:
        print(f"mutant catalogue: {problem}", file=sys.stderr)
        return 2
    if args.list:
        for mutant in mutants:
            print(f"{mutant.name:40} {mutant.patches[0].file}\n    {mutant.invariant}")
        return 0

    env = dict(os.environ, DATABASE_URL=database_url(), PYTHONDONTWRITEBYTECODE="1")
    scratch = Path(tempfile.mkdtemp(prefix="pointsbank-mutants-"))
    try:
        copy_tree(ROOT, scratch)
        env["PYTHONPATH"] = str(scratch)
        if not args.no_baseline and not baseline_passes(scratch, mutants, env):
            return 1
        return run_all(scratch, mutants, env, args.show)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def selected(mutants: list[catalogue.Mutant], only: str) -> list[catalogue.Mutant]:
    wanted = [name.strip() for name in only.split(",") if name.strip()]
    unknown = sorted(set(wanted) - {m.name for m in mutants})
    if unknown:
        raise catalogue.CatalogueError(f"no such mutant: {', '.join(unknown)}")
    return [m for m in mutants if m.name in wanted] if wanted else mutants


def baseline_passes(scratch: Path, mutants: list[catalogue.Mutant], env: dict[str, str]) -> bool:
    """The named tests pass on the unmutated copy (else a failure would kill nothing)."""
    tests = sorted({node for m in mutants for node in m.tests})
    print(f"baseline: {len(tests)} tests on the unmutated copy ...", flush=True)
    status, seconds, tail = run_tests(scratch, tests, env)
    if status != SURVIVED:   # i.e. the tests did not all pass
        print(f"baseline failed ({status}, {seconds:.0f} s): fix the tests first\n{tail}")
        return False
    print(f"baseline passed in {seconds:.0f} s", flush=True)
    return True


def database_url() -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    from api.database import embedded_server_url

    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")  # as in pytest's settings

    data_dir = Path(os.environ.get("POINTSBANK_TEST_DATA_DIR", ROOT / ".pointsbank" / "test"))
    return embedded_server_url(data_dir)  # stays up while this process lives


def copy_tree(source: Path, target: Path) -> None:
    listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=source,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        path = source / name
        if path.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / name)


def run_tests(scratch: Path, tests: list[str], env: dict[str, str]) -> tuple[str, float, str]:
    """Run `tests` in the scratch copy: SURVIVED when they pass, KILLED when one fails (or
    the per-test invariant check fails at its teardown), ERROR when only a set-up broke
    (a mutant that stops the migrations kills nothing: it is a broken mutant)."""
    command = [sys.executable, "-m", "pytest", "-x", "-q", "--no-header", "-p", "no:cacheprovider", *tests]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=scratch, env=env, capture_output=True, text=True,
                              timeout=MUTANT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return TIMEOUT, time.perf_counter() - started, ""
    seconds = time.perf_counter() - started
    output = done.stdout + done.stderr
    tail = "\n".join(output.strip().splitlines()[-TAIL_SHOWN_LINES:])
    if done.returncode == 0:
        return SURVIVED, seconds, tail
    failed = re.search(r"^FAILED |^_+ ERROR at teardown of ", output, re.MULTILINE)
    return (KILLED if done.returncode == 1 and failed else ERROR), seconds, tail


def first_failure(tail: str) -> str:
    lines = tail.splitlines()
    found = ([line for line in lines if line.startswith("FAILED")]      # a failed assertion,
             or [line for line in lines if line.startswith("ERROR")])  # else a fixture's error
    return (found[0] if found else tail.splitlines()[-1] if tail else "")[:FAILURE_SHOWN_CHARS]


def run_all(scratch: Path, mutants: list[catalogue.Mutant], env: dict[str, str], show: bool) -> int:
    results: list[tuple[str, str, float]] = []
    started = time.perf_counter()
    for number, mutant in enumerate(mutants, 1):
        print(f"[{number}/{len(mutants)}] {mutant.name} ...", end=" ", flush=True)
        originals = catalogue.apply(scratch, mutant)
        try:
            status, seconds, tail = run_tests(scratch, list(mutant.tests), env)
        finally:
            catalogue.restore(originals)
        results.append((mutant.name, status, seconds))
        print(f"{status} ({seconds:.0f} s)", flush=True)
        if status == KILLED:   # by which test, and how: a mutant should die for its reason
            print(f"    {first_failure(tail)}")
        else:
            print(f"    breaks: {mutant.invariant}\n    tests: {' '.join(mutant.tests)}")
        if status == ERROR or show:
            print("    " + tail.replace("\n", "\n    "))
    total = time.perf_counter() - started
    lost = [(name, status) for name, status, _ in results if status != KILLED]
    print(f"\n{len(results) - len(lost)}/{len(results)} mutants killed in {total / 60:.1f} min")
    for name, status in lost:
        print(f"  {status}: {name}")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
