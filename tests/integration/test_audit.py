"""Reconciliation and checkpoints on a real book: a clean book passes every check, and
each tampering (as the database superuser, triggers bypassed) is named by some check."""
from __future__ import annotations

import asyncio

import pytest

from ledger import audit, model
from ledger.checkpoints import Checkpoints


@pytest.fixture
def checkpoints(engine, keys) -> Checkpoints:
    return Checkpoints(engine, keys)


async def build_book(ledger, realm: str, residents: int = 3) -> dict:
    """Fund, earn, reverse one earning: a small book with every reversible shape."""
    funding = await ledger.system_account(realm, "funding", "civic")
    budget = await ledger.system_account(realm, "budget", "civic")
    await ledger.post(model.EntryDraft(realm, "fund", (model.Line(funding["id"], -1000),
                                                       model.Line(budget["id"], 1000)), "test"))
    accounts, earnings = [], []
    for number in range(residents):
        account = await ledger.create_account(realm, "resident", "civic", resident_id=number + 1)
        accounts.append(account["id"])
        earnings.append(await ledger.post(model.EntryDraft(
            realm, "earn", (model.Line(budget["id"], -(10 + number)),
                            model.Line(account["id"], 10 + number)), "test")))
    await ledger.reverse(earnings[0], "test", None)
    return {"budget": budget["id"], "funding": funding["id"], "residents": accounts,
            "earnings": [e["id"] for e in earnings]}


async def failures(engine, keys, realm) -> dict[str, list[dict]]:
    report = await audit.run_audit(engine, realm)
    return {r.name: r.offending for r in report.results if not r.ok}


def tamper(owner_conn, sql: str, *params) -> None:
    owner_conn.execute("SET session_replication_role = replica")
    owner_conn.execute(sql, params)
    owner_conn.execute("SET session_replication_role = origin")
    owner_conn.commit()


async def test_a_clean_book_passes_every_check(ledger, engine, keys, checkpoints, realm):
    await build_book(ledger, realm)
    heads = await checkpoints.seal_current(realm)
    assert heads[-1]["tree_size"] == 5
    report = await audit.run_audit(engine, realm)
    assert report.ok, report.as_json()
    assert {r.name for r in report.results} >= {
        "trial_balance", "cached_balances", "running_balances", "balance_floors",
        "entries_balanced", "reversals", "points_created_equal_budget_spent",
        "clearing_mirror", "checkpoints_verify", "posting_rules"}


async def test_changed_posting_amount_is_named(ledger, engine, keys, checkpoints, realm, owner_conn):
    book = await build_book(ledger, realm)
    await checkpoints.seal_current(realm)
    entry_id = book["earnings"][1]
    tamper(owner_conn, "UPDATE postings SET amount = amount + 5 WHERE realm = %s AND entry_id = %s AND amount > 0",
           realm, entry_id)
    found = await failures(engine, keys, realm)
    assert [row["entry_id"] for row in found["entries_balanced"]] == [entry_id]
    assert {row["entry_id"] for row in found["running_balances"]} == {entry_id}
    assert [row["account_id"] for row in found["cached_balances"]] == [book["residents"][1]]
    assert {(row["problem"], row.get("entry_id")) for row in found["checkpoints_verify"]} == {
        ("entry or its postings changed after sealing", entry_id)}
    assert found["trial_balance"][0]["postings_total"] == 5


# Every field of the Merkle leaf, changed after sealing (triggers bypassed), is named by
# the checkpoint verification: a leaf that left one out would let that edit through.
LEAF_EDITS = {
    "kind": "UPDATE entries SET kind = 'adjustment' WHERE realm = %s AND id = %s",
    "reference": "UPDATE entries SET reference = 'forged' WHERE realm = %s AND id = %s",
    "memo": "UPDATE entries SET memo = 'forged' WHERE realm = %s AND id = %s",
    "created_by": "UPDATE entries SET created_by = 'someone else' WHERE realm = %s AND id = %s",
    "created_at": "UPDATE entries SET created_at = created_at - interval '1 microsecond'"
                  " WHERE realm = %s AND id = %s",
    "reverses_entry_id": "UPDATE entries SET reverses_entry_id = reverses_entry_id + 1"
                         " WHERE realm = %s AND id = %s",
    "account_id": "UPDATE postings SET account_id = (SELECT max(id) FROM accounts WHERE realm = %s)"
                  " WHERE realm = %s AND entry_id = %s AND amount > 0",  # to a spare account
    "account_seq": "UPDATE postings SET account_seq = account_seq + 100 WHERE realm = %s AND entry_id = %s"
                   " AND amount > 0",
    "asset": "UPDATE postings SET asset = 'agri' WHERE realm = %s AND entry_id = %s",
    "amount": "UPDATE postings SET amount = amount + 1, balance_after = balance_after + 1"
              " WHERE realm = %s AND entry_id = %s AND amount > 0",
    "balance_after": "UPDATE postings SET balance_after = balance_after + 1"
                     " WHERE realm = %s AND entry_id = %s AND amount > 0",
}


@pytest.mark.parametrize("field", sorted(LEAF_EDITS))
async def test_each_leaf_field_changed_after_sealing_is_named(ledger, engine, keys, checkpoints, realm,
                                                              owner_conn, field):
    book = await build_book(ledger, realm)
    await ledger.create_account(realm, "resident", "civic", resident_id=99)  # spare, no postings
    await checkpoints.seal_current(realm)
    entry_id = (owner_conn.execute("SELECT id FROM entries WHERE realm = %s AND kind = 'reversal'",
                                   (realm,)).fetchone()[0]
                if field == "reverses_entry_id" else book["earnings"][1])
    tamper(owner_conn, LEAF_EDITS[field], *([realm] * LEAF_EDITS[field].count("realm = %s")), entry_id)
    found = await failures(engine, keys, realm)
    assert ("entry or its postings changed after sealing", entry_id) in {
        (row["problem"], row.get("entry_id")) for row in found.get("checkpoints_verify", [])}, found


async def test_a_balance_below_its_floor_is_named(ledger, engine, keys, realm, owner_conn):
    """Two forged adjustments, balanced and with true running balances, take a wallet one
    point below zero and back (the cached balance never shows it, so the CHECK on it
    cannot refuse it): only the floor check sees the posting below the floor."""
    book = await build_book(ledger, realm)
    low, high = book["residents"][1], book["residents"][2]   # hold 11 and 12
    held = dict(owner_conn.execute("SELECT id, balance FROM accounts WHERE realm = %s AND id IN (%s, %s)",
                                   (realm, low, high)).fetchall())
    seqs = dict(owner_conn.execute("SELECT id, posting_count FROM accounts WHERE realm = %s AND id IN (%s, %s)",
                                   (realm, low, high)).fetchall())
    owner_conn.execute("SET session_replication_role = replica")
    for moves in (((low, -12), (high, 12)), ((high, -12), (low, 12))):
        entry_id = owner_conn.execute(
            "INSERT INTO entries (realm, kind, created_by, created_at, created_txid)"
            " VALUES (%s, 'adjustment', 'forger', now(), txid_current()) RETURNING id", (realm,)).fetchone()[0]
        for account_id, amount in moves:
            held[account_id] += amount
            seqs[account_id] += 1
            owner_conn.execute(
                "INSERT INTO postings (realm, entry_id, account_id, account_seq, asset, amount, balance_after,"
                " created_at) VALUES (%s, %s, %s, %s, 'civic', %s, %s, now())",
                (realm, entry_id, account_id, seqs[account_id], amount, held[account_id]))
    owner_conn.execute("UPDATE accounts SET posting_count = posting_count + 2 WHERE realm = %s AND id IN (%s, %s)",
                       (realm, low, high))
    owner_conn.execute("SET session_replication_role = origin")
    owner_conn.commit()
    found = await failures(engine, keys, realm)
    assert list(found) == ["balance_floors"], found
    assert [(row["account_id"], row["balance"]) for row in found["balance_floors"]] == [(low, -1)]


async def test_deleted_newest_entry_is_named(ledger, engine, keys, checkpoints, realm, owner_conn):
    book = await build_book(ledger, realm)
    newest = await ledger.post(model.EntryDraft(
        realm, "earn", (model.Line(book["budget"], -7), model.Line(book["residents"][2], 7)), "test"))
    await checkpoints.seal_current(realm)
    owner_conn.execute("SET session_replication_role = replica")
    owner_conn.execute("DELETE FROM postings WHERE realm = %s AND entry_id = %s", (realm, newest["id"]))
    owner_conn.execute("DELETE FROM entries WHERE realm = %s AND id = %s", (realm, newest["id"]))
    owner_conn.commit()
    found = await failures(engine, keys, realm)
    assert [(p["problem"], p["entry_id"]) for p in found["checkpoints_verify"]] == [
        ("sealed entry is missing", newest["id"])]


async def test_deleted_newest_entry_with_balances_fixed_is_still_named(
        ledger, engine, keys, checkpoints, realm, owner_conn):
    """A careful forger also rolls the cached balances back: only the checkpoint sees it."""
    book = await build_book(ledger, realm)
    newest = await ledger.post(model.EntryDraft(
        realm, "earn", (model.Line(book["budget"], -7), model.Line(book["residents"][2], 7)), "test"))
    await checkpoints.seal_current(realm)
    owner_conn.execute("SET session_replication_role = replica")
    owner_conn.execute("DELETE FROM postings WHERE realm = %s AND entry_id = %s", (realm, newest["id"]))
    owner_conn.execute("DELETE FROM entries WHERE realm = %s AND id = %s", (realm, newest["id"]))
    owner_conn.execute("UPDATE accounts SET balance = balance + 7, posting_count = posting_count - 1 "
                       "WHERE realm = %s AND id = %s", (realm, book["budget"]))
    owner_conn.execute("UPDATE accounts SET balance = balance - 7, posting_count = posting_count - 1 "
                       "WHERE realm = %s AND id = %s", (realm, book["residents"][2]))
    owner_conn.commit()
    found = await failures(engine, keys, realm)
    assert list(found) == ["checkpoints_verify"]
    assert [p["entry_id"] for p in found["checkpoints_verify"]] == [newest["id"]]


async def test_forged_balanced_entry_is_named(ledger, engine, keys, checkpoints, realm, owner_conn):
    book = await build_book(ledger, realm)
    await checkpoints.seal_current(realm)
    owner_conn.execute("SET session_replication_role = replica")
    forged_id = owner_conn.execute(
        "INSERT INTO entries (realm, kind, created_by, created_at, created_txid) "
        "VALUES (%s, 'earn', 'forger', now(), 1) RETURNING id", (realm,)).fetchone()[0]
    owner_conn.execute(
        "INSERT INTO postings (realm, entry_id, account_id, account_seq, asset, amount, balance_after, created_at) "
        "VALUES (%s, %s, %s, 100, 'civic', -50, 0, now()), (%s, %s, %s, 100, 'civic', 50, 50, now())",
        (realm, forged_id, book["budget"], realm, forged_id, book["residents"][1]))
    owner_conn.commit()
    found = await failures(engine, keys, realm)
    assert [p["entry_id"] for p in found["checkpoints_verify"]] == [forged_id]
    assert {row["entry_id"] for row in found["running_balances"]} == {forged_id}
    assert {row["account_id"] for row in found["cached_balances"]} == {book["budget"], book["residents"][1]}


async def test_changed_balance_row_is_named(ledger, engine, keys, realm, owner_conn):
    book = await build_book(ledger, realm)
    tamper(owner_conn, "UPDATE accounts SET balance = balance + 100 WHERE realm = %s AND id = %s",
           realm, book["residents"][2])
    found = await failures(engine, keys, realm)
    assert [row["account_id"] for row in found["cached_balances"]] == [book["residents"][2]]
    assert found["trial_balance"] == [{"realm": realm, "asset": "civic", "postings_total": 0,
                                       "balances_total": 100}]


async def test_rewritten_reversal_is_named(ledger, engine, keys, realm, owner_conn):
    book = await build_book(ledger, realm)
    tamper(owner_conn, "UPDATE entries SET reverses_entry_id = %s WHERE realm = %s AND kind = 'reversal'",
           book["earnings"][1], realm)
    found = await failures(engine, keys, realm)
    assert {row["original_id"] for row in found["reversals"]} == {book["earnings"][1]}


async def test_points_created_outside_the_budget_are_named(ledger, engine, keys, realm, owner_conn):
    book = await build_book(ledger, realm)
    tamper(owner_conn, "UPDATE postings SET account_id = %s WHERE realm = %s AND entry_id = %s AND amount < 0",
           book["funding"], realm, book["earnings"][2])
    found = await failures(engine, keys, realm)
    [row] = found["points_created_equal_budget_spent"]
    assert row["created"] == row["spent"] + 12
    assert {r["entry_id"] for r in found["posting_rules"]} == {book["earnings"][2]}


async def test_clearing_accounts_must_mirror(ledger, engine, keys, realm, owner_conn):
    from tests.conftest import new_realm_code

    other = new_realm_code()
    await ledger.open_realm(other, "对方区")
    here = await ledger.create_account(realm, "clearing", "civic", counterpart_realm=other)
    await ledger.create_account(other, "clearing", "civic", counterpart_realm=realm)
    assert (await failures(engine, keys, realm)) == {}
    await build_book(ledger, realm)
    # one side of a cross-realm move without its mirror (real ones always post both sides)
    tamper(owner_conn, "WITH forged AS (INSERT INTO entries (realm, kind, created_by, created_at, created_txid)"
                       " VALUES (%s, 'capture', 'forger', now(), txid_current()) RETURNING realm, id)"
                       " INSERT INTO postings (realm, entry_id, account_id, account_seq, asset, amount,"
                       " balance_after, created_at) SELECT realm, id, %s, 1, 'civic', 5, 5, now() FROM forged",
           realm, here["id"])
    found = await failures(engine, keys, realm)
    assert found["clearing_mirror"] == [{"realm": realm, "counterpart_realm": other, "asset": "civic",
                                         "clearing_here": 5, "clearing_there": 0}]


async def test_sealing_twice_adds_only_new_entries(ledger, checkpoints, realm):
    book = await build_book(ledger, realm)
    first = (await checkpoints.seal_current(realm))[-1]
    assert await checkpoints.seal(realm) is None
    await ledger.post(model.EntryDraft(
        realm, "earn", (model.Line(book["budget"], -1), model.Line(book["residents"][0], 1)), "test"))
    [second] = await checkpoints.seal_current(realm)
    assert (second["seq"], second["tree_size"]) == (first["seq"] + 1, first["tree_size"] + 1)
    assert second["previous_head_hash"] == first["head_hash"]


async def test_checkpoints_are_append_only(ledger, checkpoints, realm, app_conn):
    import psycopg

    await build_book(ledger, realm)
    await checkpoints.seal_current(realm)
    for statement in ("UPDATE checkpoints SET tree_size = 1 WHERE realm = %s",
                      "DELETE FROM checkpoint_entries WHERE realm = %s"):
        with pytest.raises(psycopg.Error):
            app_conn.execute(statement, (realm,))
        app_conn.rollback()


async def test_even_the_owner_cannot_rewrite_checkpoints(ledger, checkpoints, realm, owner_conn):
    import psycopg

    await build_book(ledger, realm)
    await checkpoints.seal_current(realm)
    for statement in ("UPDATE checkpoints SET tree_size = 1 WHERE realm = %s",
                      "DELETE FROM checkpoints WHERE realm = %s",
                      "UPDATE checkpoint_entries SET leaf_hash = leaf_hash WHERE realm = %s",
                      "DELETE FROM checkpoint_entries WHERE realm = %s"):
        with pytest.raises(psycopg.Error) as caught:
            owner_conn.execute(statement, (realm,))
        assert caught.value.diag.message_primary == "append_only", statement
        owner_conn.rollback()


async def test_proofs_verify(ledger, checkpoints, realm):
    from ledger import merkle

    book = await build_book(ledger, realm)
    first = (await checkpoints.seal_current(realm))[-1]
    for _ in range(3):
        await ledger.post(model.EntryDraft(
            realm, "earn", (model.Line(book["budget"], -1), model.Line(book["residents"][1], 1)), "test"))
    second = (await checkpoints.seal_current(realm))[-1]
    for entry_id in book["earnings"]:
        proof = await checkpoints.inclusion_proof(entry_id)
        head = proof["checkpoint"]
        assert head["seq"] == second["seq"]
        assert merkle.verify_inclusion(bytes.fromhex(proof["leaf_hash"]), proof["leaf_index"],
                                       head["tree_size"], [bytes.fromhex(h) for h in proof["proof"]],
                                       bytes.fromhex(head["root_hash"]))
    consistency = await checkpoints.consistency_proof(realm, first["seq"], second["seq"])
    assert merkle.verify_consistency(first["tree_size"], second["tree_size"],
                                     bytes.fromhex(first["root_hash"]), bytes.fromhex(second["root_hash"]),
                                     [bytes.fromhex(h) for h in consistency["proof"]])


async def test_concurrent_writers_are_each_sealed_exactly_once(ledger, engine, keys, checkpoints, realm):
    """Writers commit (some holding their entry's id while they wait) while sealers run:
    every committed entry lands in exactly one checkpoint."""
    from sqlalchemy import text

    book = await build_book(ledger, realm, residents=4)
    writers, entries_each = 8, 12

    async def writer(number: int) -> None:
        for index in range(entries_each):
            draft = model.EntryDraft(realm, "earn", (model.Line(book["budget"], -1),
                                                     model.Line(book["residents"][number % 4], 1)), "test")

            async def work(conn):
                result = await ledger.post_in(conn, draft)
                await asyncio.sleep(0.02 if index % 3 == 0 else 0)  # took its id, commits late
                return result

            from ledger import db
            await db.in_transaction(engine, work)

    async def sealer() -> None:
        for _ in range(15):
            await checkpoints.seal(realm)
            await asyncio.sleep(0.01)

    await asyncio.gather(*(writer(n) for n in range(writers)), sealer(), sealer())
    entries = 6 + writers * entries_each
    for _ in range(100):  # a transaction elsewhere on the server may hold the horizon back
        await checkpoints.seal(realm)
        async with engine.connect() as conn:
            sealed = (await conn.execute(text(
                "SELECT count(*), count(DISTINCT entry_id), coalesce(max(leaf_index), -1) + 1 "
                "FROM checkpoint_entries WHERE realm = :r"), {"r": realm})).one()
        if sealed[0] == entries:
            break
        await asyncio.sleep(0.1)
    assert tuple(sealed) == (entries, entries, entries)
    report = await audit.run_audit(engine, realm)
    assert report.ok, report.as_json()


async def test_database_refuses_a_checkpoint_out_of_chain(ledger, checkpoints, realm, app_conn):
    import psycopg

    await build_book(ledger, realm)
    [*_, head] = await checkpoints.seal_current(realm)
    with pytest.raises(psycopg.errors.RaiseException, match="checkpoint_chain_broken"):
        app_conn.execute(
            "INSERT INTO checkpoints (realm, seq, tree_size, root_hash, previous_head_hash, head_hash, frontier, "
            "sealed_below_txid, key_id, signature, created_at) VALUES "
            "(%s, %s, %s, %s, NULL, %s, '{}', 0, 1, %s, now())",
            (realm, head["seq"] + 2, 10, b"\0" * 32, b"\0" * 32, b"\0" * 64))
    app_conn.rollback()


async def test_leaf_hash_in_the_database_equals_python(ledger, engine, realm):
    """For every entry of a book with each shape (fund, earn, reversal; memo and reference
    set and unset), the database's leaf is the one Python builds."""
    from sqlalchemy import text

    from ledger import merkle

    book = await build_book(ledger, realm)
    await ledger.post(model.EntryDraft(realm, "earn", (model.Line(book["budget"], -1),
                                                       model.Line(book["residents"][2], 1)),
                                       "test", reference="ref:1", memo="备注"))
    async with engine.connect() as conn:
        stored = (await conn.execute(text(
            "SELECT l.entry_id, l.leaf_hash, audit_micros(e.created_at) FROM audit_entry_leaves l "
            "JOIN entries e ON e.realm = l.realm AND e.id = l.entry_id WHERE l.realm = :r ORDER BY l.entry_id"),
            {"r": realm})).all()
        assert len(stored) == 6
        for entry_id, leaf_hash, created_at_us in stored:
            entry = await ledger.entry(entry_id)
            postings = (await conn.execute(text(
                "SELECT account_id, account_seq, asset, amount, balance_after FROM postings "
                "WHERE realm = :r AND entry_id = :id"), {"r": realm, "id": entry_id})).mappings().all()
            fields = dict(entry, created_at_us=created_at_us)
            assert merkle.entry_leaf_hash(fields, postings) == bytes(leaf_hash), entry_id


async def test_sealing_many_leaves_lets_other_requests_run_between_slices(ledger, checkpoints, realm,
                                                                            monkeypatch):
    """A round's leaves are hashed in slices with a turn of the event loop between them: a
    task that ticks meanwhile advances while the checkpoint is being built (without the
    slices it would see none of it, and neither would the requests of a serving process)."""
    from ledger import checkpoints as checkpoints_module, merkle

    monkeypatch.setattr(checkpoints_module, "SEAL_LEAVES_PER_SLICE", 10)
    book = await build_book(ledger, realm)
    await checkpoints.seal_current(realm)
    await asyncio.gather(*(ledger.post(model.EntryDraft(
        realm, "earn", (model.Line(book["budget"], -1), model.Line(book["residents"][n % 3], 1)), "test"))
        for n in range(60)))
    ticks = 0
    seen: list[int] = []
    append = merkle.Frontier.append

    def counted_append(frontier, leaf):
        seen.append(ticks)
        append(frontier, leaf)

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    monkeypatch.setattr(merkle.Frontier, "append", counted_append)
    ticking = asyncio.create_task(ticker())
    try:
        heads = await checkpoints.seal_current(realm)
    finally:
        ticking.cancel()
    assert heads and len(seen) >= 60
    assert len(set(seen)) >= 6, "the ticker ran between slices of ten leaves"
