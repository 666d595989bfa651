"""The short bank run under faults (`make chaos` runs the same engine for 10 minutes):
a served app on a real PostgreSQL, 32 clients, every fault kind, then the book
reconciled against what the clients were told. Zero anomalies, and enough done that a
pass means something."""
from __future__ import annotations

import os
from collections import Counter

import pytest
import psycopg

from tests.chaos import checks
from tests.chaos.bank import History, Voucher, run_bank, summary
from tests.redemption_support import fund_resident

pytestmark = [pytest.mark.chaos, pytest.mark.db]

SHORT_RUN_S = 40.0
ACKNOWLEDGED_MIN = 150        # far below what a 40 s run does here (about 1,400; 150 on a busy machine)
EVERY_OPERATION = ("attend", "issue", "redeem", "partial capture", "race (two merchants, one code)",
                   "cancel", "expire (forced)", "settle", "fund", "adjustment", "reversal", "serve:confirm", "reserve")


async def test_the_bank_under_faults_loses_nothing_and_doubles_nothing():
    tally = await run_bank(SHORT_RUN_S)
    report = summary(tally, on_server=bool(os.environ.get("DATABASE_URL")))
    assert tally.anomalies == [], report
    assert sum(tally.acked.values()) >= ACKNOWLEDGED_MIN, report
    assert all(tally.acked[kind] >= 1 for kind in EVERY_OPERATION), report
    faults = ["kill backends", "kill service", "cut request", "duplicate submission"]
    if not os.environ.get("DATABASE_URL"):
        faults.append("restart postgres")
    assert all(tally.faults[kind] >= 1 for kind in faults), report
    assert sum(tally.retries.values()) >= 1, report   # the faults were felt


async def test_the_reconciliation_finds_what_the_book_does_not_have(database_url, realm, ledger):
    """The checks can fail: a history that claims more than the book holds is reported."""
    await fund_resident(ledger, realm, 1, points=50)
    history = History()
    history.fundings[10**12] = 80                      # an acknowledged funding the book lacks
    history.awards[(10**12, 1)] = (10**12, 20)         # an award the book lacks
    history.vouchers[10**12] = Voucher(10**12, "PB1:none", 5, 0)
    history.cancelled.add(10**12)
    with psycopg.connect(database_url) as conn:
        problems = checks.check_book(conn, realm, history, Counter())
    assert any("funding entry" in p for p in problems), problems
    assert any("funded 50 in the book, acknowledged 80" in p for p in problems), problems
    assert any(p.startswith("award ") for p in problems), problems
    assert any(p.startswith(f"voucher {10**12} of 5") for p in problems), problems
    assert any("cancel acknowledged" in p for p in problems), problems
    with psycopg.connect(database_url) as conn:
        assert checks.check_book(conn, realm, History(fundings=dict(_fundings(conn, realm))), Counter()) == []


def _fundings(conn, realm):
    return conn.execute("SELECT e.id, p.amount FROM entries e JOIN postings p ON (p.realm, p.entry_id) = (e.realm, e.id) "
                        "WHERE e.realm = %s AND e.kind = 'fund' AND p.amount > 0", (realm,)).fetchall()
