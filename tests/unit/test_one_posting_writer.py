"""One posting writer: in SQL only `ledger_write_postings` inserts postings, and every SQL
path that makes entries posts through it; in Python only the ledger package names the
posting functions or writes entries and postings (domain packages post through
`ledger.Ledger`). bench/book.py's bulk loader (a benchmark's fixture, written with the
posting trigger's own arithmetic) is the one exception outside the service."""
import re
from pathlib import Path

from migrations import objects

ROOT = Path(__file__).resolve().parents[2]
WRITER = "ledger/sql/ledger_write_postings.sql"
INSERTS_POSTINGS = re.compile(r"INSERT\s+INTO\s+postings\b", re.IGNORECASE)
INSERTS_ENTRIES = re.compile(r"INSERT\s+INTO\s+entries\b", re.IGNORECASE)
POSTING_SQL = re.compile(r"ledger_post_\w+|ledger_write_postings|INSERT\s+INTO\s+(postings|entries)\b"
                         r"|insert\((postings|entries)\)", re.IGNORECASE)
PYTHON_PACKAGES = ("access", "earning", "redemption", "merchants", "api")
# who takes the locks before the entries are stamped, when the function's caller does
LOCKED_BY_CALLER = {"ledger_post_together": ("ledger_post_batch", "ledger_lock_batch_accounts")}


def test_only_the_writer_inserts_postings():
    inserting = {item.path for item in objects.repository_objects() if INSERTS_POSTINGS.search(item.sql)}
    assert inserting == {WRITER}


def test_every_function_that_makes_entries_posts_through_the_writer():
    making = [item for item in objects.repository_objects() if INSERTS_ENTRIES.search(item.sql)]
    assert {item.name for item in making} == {"ledger_post_entry", "ledger_post_together", "earning_award_chunk"}
    by_name = {item.name: item.sql for item in objects.repository_objects()}
    for item in making:
        assert "ledger_write_postings(" in item.sql, item.path
        # the accounts are locked before the entries are stamped (time order = seq order)
        caller, locker = LOCKED_BY_CALLER.get(item.name, (item.name, item.name))
        assert f"{locker}(" in by_name[caller] and "ledger_lock_accounts(" in by_name[locker], item.path


def test_no_python_outside_the_ledger_posts_by_itself():
    offending = {str(path.relative_to(ROOT)): sorted({m.group(0) for m in POSTING_SQL.finditer(path.read_text())})
                 for package in PYTHON_PACKAGES for path in (ROOT / package).rglob("*.py")
                 if POSTING_SQL.search(path.read_text())}
    assert offending == {}
