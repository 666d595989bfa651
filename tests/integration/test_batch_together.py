"""Group commit's set-based path: a batch of ordinary new entries goes in together and
answers exactly as one entry at a time would; anything unusual goes one at a time, where
each entry succeeds or fails on its own."""
import json
from dataclasses import replace

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from ledger import model, repository
from tests.integration.helpers import earn, funded_budget, move, residents


@pytest.fixture
async def wallets(ledger, realm):
    budget = await funded_budget(ledger, realm, 1_000)
    found = await residents(ledger, realm, 3)
    for wallet in found:
        await ledger.post(earn(realm, budget, wallet, 100))
    return {"realm": realm, "budget": budget, "wallets": found}


def batch(*drafts: model.EntryDraft) -> Jsonb:
    return Jsonb([repository.draft_json(replace(d, request_hash=model.request_hash(d)))
                  for d in drafts])


def together(conn: psycopg.Connection, requests: Jsonb):
    return conn.execute("SELECT ledger_post_together(%s)", (requests,)).fetchone()[0]


def entry_count(conn: psycopg.Connection, realm: str) -> int:
    return conn.execute("SELECT count(*) FROM entries WHERE realm = %s", (realm,)).fetchone()[0]


def chains(conn: psycopg.Connection, realm: str) -> bool:
    """Every account's postings run 1..n and each balance is the one before plus the amount."""
    return conn.execute("""
        SELECT bool_and(account_seq = row_number AND balance_after = running) FROM (
            SELECT account_seq, balance_after,
                   row_number() OVER (PARTITION BY account_id ORDER BY account_seq),
                   sum(amount) OVER (PARTITION BY account_id ORDER BY account_seq) AS running
              FROM postings WHERE realm = %s) p""", (realm,)).fetchone()[0]


def test_an_ordinary_batch_goes_in_together_and_answers_as_each_entry_would(app_conn, wallets):
    realm, (a, b, c) = wallets["realm"], wallets["wallets"]
    drafts = [move(realm, a, b, 7, idempotency_key="t1"), move(realm, b, c, 30),
              move(realm, a, c, 5, idempotency_key="t3", memo="三"), move(realm, c, a, 1)]
    results = together(app_conn, batch(*drafts))
    app_conn.commit()
    assert results is not None and len(results) == len(drafts)
    assert [r["id"] for r in results] == sorted(r["id"] for r in results)
    for result in results:
        stored = app_conn.execute("SELECT ledger_entry_json(%s, %s)", (realm, result["id"])).fetchone()[0]
        assert result == {**stored, "replayed": False}
    balances = dict(app_conn.execute("SELECT id, balance FROM accounts WHERE id IN (%s, %s, %s)",
                                     (a, b, c)).fetchall())
    assert balances == {a: 100 - 7 - 5 + 1, b: 100 + 7 - 30, c: 100 + 30 + 5 - 1}
    assert chains(app_conn, realm)
    replay = app_conn.execute("SELECT ledger_post_batch(%s)", (batch(drafts[0]),)).fetchone()[0]
    assert replay[0]["id"] == results[0]["id"] and replay[0]["replayed"] is True


@pytest.mark.parametrize("unusual", ["replayed key", "key twice", "reversal", "unknown account",
                                     "overdraft", "one line"])
async def test_an_unusual_batch_is_left_to_one_at_a_time(app_conn, wallets, ledger, unusual):
    realm, (a, b, c) = wallets["realm"], wallets["wallets"]
    first = await ledger.post(move(realm, a, b, 1, idempotency_key="done"))
    odd = {
        "replayed key": move(realm, a, b, 1, idempotency_key="done"),
        "key twice": move(realm, c, b, 1, idempotency_key="ordinary"),
        "reversal": model.EntryDraft(realm=realm, kind="reversal", created_by="t", reverses_entry_id=first["id"],
                                     lines=(model.Line(a, 1), model.Line(b, -1))),
        "unknown account": move(realm, a, 987_654_321, 1),
        "overdraft": move(realm, c, a, 103),  # c has 100 + 2 by then
        "one line": model.EntryDraft(realm=realm, kind="adjustment", created_by="t",
                                     lines=(model.Line(a, 1),)),
    }[unusual]
    before = entry_count(app_conn, realm)
    assert together(app_conn, batch(move(realm, b, c, 2, idempotency_key="ordinary"), odd)) is None
    assert entry_count(app_conn, realm) == before
    app_conn.rollback()


def test_when_the_book_refuses_a_batch_each_entry_answers_for_itself(app_conn, wallets):
    """An entry kind the rules forbid is not checked before trying together: the book
    refuses the batch, and one at a time the others still go in."""
    realm, (a, b, c) = wallets["realm"], wallets["wallets"]
    funding = app_conn.execute("SELECT id FROM accounts WHERE realm = %s AND kind = 'funding'"
                               " AND asset = 'civic'", (realm,)).fetchone()[0]
    forbidden = model.EntryDraft(realm=realm, kind="earn", created_by="t",  # earn from funding
                                 lines=(model.Line(funding, -5), model.Line(c, 5)))
    results = app_conn.execute("SELECT ledger_post_batch(%s)", (batch(
        move(realm, a, b, 3), forbidden, move(realm, b, a, 4)),)).fetchone()[0]
    app_conn.commit()
    assert [r.get("error") for r in results] == [None, "posting_not_allowed", None]
    assert json.loads(json.dumps(results[1]["detail"]))["account_kind"] == "funding"
    balances = dict(app_conn.execute("SELECT id, balance FROM accounts WHERE id IN (%s, %s, %s)",
                                     (a, b, c)).fetchall())
    assert balances == {a: 101, b: 99, c: 100}
    assert chains(app_conn, realm)


# Any batch, together or not, answers and moves balances exactly as 0001's loop does.
WALLET_MOVES = st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(1, 120),
                         st.sampled_from([None, None, "k1", "k2", "done"]))
ODD_ITEMS = st.sampled_from(["unknown account", "forbidden", "one line", "zero"])
ITEMS = st.lists(st.one_of(WALLET_MOVES, ODD_ITEMS), min_size=2, max_size=8)


def draft_for(item, realm: str, wallets: list[int], funding: int) -> model.EntryDraft:
    if item == "unknown account":
        return move(realm, wallets[0], 987_654_321, 1)
    if item == "forbidden":
        return model.EntryDraft(realm=realm, kind="earn", created_by="t",
                                lines=(model.Line(funding, -5), model.Line(wallets[2], 5)))
    if item == "one line":
        return model.EntryDraft(realm=realm, kind="adjustment", created_by="t", lines=(model.Line(wallets[0], 1),))
    if item == "zero":
        return model.EntryDraft(realm=realm, kind="adjustment", created_by="t",
                                lines=(model.Line(wallets[0], 0), model.Line(wallets[1], 0)))
    source, target, amount, key = item
    if source == target:
        target = (target + 1) % 3
    return move(realm, wallets[source], wallets[target], amount, idempotency_key=key)


def outcome(conn: psycopg.Connection, function: str, requests: Jsonb, realm: str, wallets: list[int]):
    """What a batch function answers (ids and times aside) and leaves behind; undone after."""
    results = conn.execute(f"SELECT {function}(%s)", (requests,)).fetchone()[0]
    balances = conn.execute("SELECT array_agg(balance ORDER BY id) FROM accounts WHERE id = ANY(%s)",
                            (wallets,)).fetchone()[0]
    chained = chains(conn, realm)
    conn.rollback()
    return [without_ids(r) for r in results], balances, chained


def without_ids(result: dict) -> dict:
    """A result without what the sequence and the clock decide (rolled-back ids are not reused)."""
    kept = {k: v for k, v in result.items() if k not in ("id", "created_at")}
    if isinstance(kept.get("detail"), dict):
        kept["detail"] = {k: v for k, v in kept["detail"].items() if k != "entry_id"}
    return kept


@given(items=ITEMS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_batch_answers_as_one_entry_at_a_time_would(app_conn, done_wallets, items):
    realm, wallets, funding = done_wallets
    requests = batch(*(draft_for(item, realm, wallets, funding) for item in items))
    batched = outcome(app_conn, "ledger_post_batch", requests, realm, wallets)
    each = outcome(app_conn, "ledger_post_each", requests, realm, wallets)
    assert batched == each
    assert batched[2] is True


@pytest.fixture
async def done_wallets(ledger, wallets, app_conn):
    """Three wallets of 100 and an entry already posted under the key 'done'."""
    realm, found = wallets["realm"], wallets["wallets"]
    await ledger.post(move(realm, found[0], found[1], 1, idempotency_key="done"))
    funding = app_conn.execute("SELECT id FROM accounts WHERE realm = %s AND kind = 'funding'"
                               " AND asset = 'civic'", (realm,)).fetchone()[0]
    app_conn.rollback()
    return realm, found, funding
