"""The database holds the ledger's invariants even against a client that skips the
service: as the application role, and as the owner without disabling triggers."""
import psycopg
import pytest

from ledger import db, errors
from tests.integration.helpers import earn, funded_budget, residents


@pytest.fixture
async def posted(ledger, realm):
    budget = await funded_budget(ledger, realm, 1000)
    [wallet] = await residents(ledger, realm, 1)
    entry = await ledger.post(earn(realm, budget, wallet, 100))
    return {"realm": realm, "budget": budget, "wallet": wallet, "entry": entry}


def refused(conn: psycopg.Connection, sql: str, params=()) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(sql, params)
        conn.commit()
    conn.rollback()
    return caught.value


@pytest.mark.parametrize("sql", [
    "UPDATE entries SET memo = 'changed' WHERE realm = %s",
    "DELETE FROM entries WHERE realm = %s",
    "UPDATE postings SET amount = amount * 2 WHERE realm = %s",
    "DELETE FROM postings WHERE realm = %s",
    "UPDATE accounts SET balance = balance + 1000 WHERE realm = %s",
    "DELETE FROM accounts WHERE realm = %s",
])
def test_the_app_role_cannot_rewrite_the_book(app_conn, posted, sql):
    error = refused(app_conn, sql, (posted["realm"],))
    assert isinstance(error, psycopg.errors.InsufficientPrivilege)


@pytest.mark.parametrize("sql, code", [
    ("UPDATE entries SET memo = 'changed' WHERE realm = %s", "append_only"),
    ("DELETE FROM entries WHERE realm = %s", "append_only"),
    ("UPDATE postings SET amount = amount * 2 WHERE realm = %s", "append_only"),
    ("DELETE FROM postings WHERE realm = %s", "append_only"),
    ("UPDATE accounts SET balance = balance + 1000 WHERE realm = %s", "balance_is_derived"),
    ("UPDATE accounts SET asset = 'agri' WHERE realm = %s AND kind = 'resident'", "account_immutable"),
])
def test_even_the_owner_cannot_rewrite_it_through_the_triggers(owner_conn, posted, sql, code):
    error = refused(owner_conn, sql, (posted["realm"],))
    assert error.diag.message_primary == code


def test_truncate_is_refused(owner_conn, posted):
    error = refused(owner_conn, "TRUNCATE postings CASCADE")
    assert error.diag.message_primary == "append_only"


def insert_entry(conn, realm: str) -> int:
    return conn.execute(
        "INSERT INTO entries (realm, kind, created_by, created_at, created_txid)"
        " VALUES (%s, 'earn', 'hand', now(), 0) RETURNING id", (realm,)).fetchone()[0]


def insert_posting(conn, realm: str, entry_id: int, account_id: int, amount: int, *,
                   seq_off: int = 0, balance_off: int = 0, time_off_s: int = 0, lock: bool = True) -> None:
    """A posting by hand, written as a correct writer writes it: under the account's row
    lock, next in the account's history, with its running balance, at its entry's time.
    The offsets make it wrong on purpose."""
    lock_clause = " FOR UPDATE" if lock else ""
    balance, count = conn.execute(
        f"SELECT balance, posting_count FROM accounts WHERE realm = %s AND id = %s{lock_clause}",
        (realm, account_id)).fetchone()
    conn.execute(
        "INSERT INTO postings (realm, entry_id, account_id, account_seq, asset, amount, balance_after,"
        " created_at) SELECT %s, %s, %s, %s, 'civic', %s, %s, coalesce(e.created_at, now())"
        " + make_interval(secs => %s) FROM (SELECT 1) one"
        " LEFT JOIN entries e ON e.realm = %s AND e.id = %s",
        (realm, entry_id, account_id, count + 1 + seq_off, amount, balance + amount + balance_off,
         time_off_s, realm, entry_id))


@pytest.mark.parametrize("who, credited", [
    ("app_conn", 40),     # ten points lost
    ("owner_conn", 51),   # one point made, by the schema's owner
    ("owner_conn", 49),   # one point lost
])
def test_an_unbalanced_entry_by_hand_fails_at_commit(request, posted, who, credited):
    conn = request.getfixturevalue(who)
    realm = posted["realm"]
    entry_id = insert_entry(conn, realm)
    insert_posting(conn, realm, entry_id, posted["budget"], -50)
    insert_posting(conn, realm, entry_id, posted["wallet"], credited)   # accepted until COMMIT
    with pytest.raises(psycopg.Error) as caught:
        conn.commit()
    assert caught.value.diag.message_primary == "entry_unbalanced"
    balance = conn.execute("SELECT balance FROM accounts WHERE realm = %s AND id = %s",
                           (realm, posted["wallet"])).fetchone()[0]
    assert balance == 100


async def test_a_second_reversal_by_hand_is_refused_even_as_the_owner(owner_conn, posted, ledger):
    realm, original = posted["realm"], posted["entry"]
    await ledger.reverse(original, "test", None)
    await ledger.post(earn(realm, posted["budget"], posted["wallet"], 100))  # enough to take back twice
    with pytest.raises(psycopg.errors.UniqueViolation) as caught:
        owner_conn.execute(
            "INSERT INTO entries (realm, kind, reverses_entry_id, created_by, created_at, created_txid)"
            " VALUES (%s, 'reversal', %s, 'hand', now(), 0) RETURNING id", (realm, original["id"]))
        second = owner_conn.execute("SELECT max(id) FROM entries WHERE realm = %s", (realm,)).fetchone()[0]
        insert_posting(owner_conn, realm, second, posted["budget"], 100)
        insert_posting(owner_conn, realm, second, posted["wallet"], -100)
        owner_conn.commit()
    assert caught.value.diag.constraint_name == "entries_reversed_once"
    owner_conn.rollback()
    reversals = owner_conn.execute("SELECT count(*) FROM entries WHERE realm = %s AND reverses_entry_id = %s",
                                   (realm, original["id"])).fetchone()[0]
    assert reversals == 1


async def test_a_reversal_of_a_reversal_by_hand_fails_at_commit(app_conn, posted, ledger):
    """Only fund, earn and adjustment entries are reversed; a reversal is not, even when
    its mirror is exact and written by hand past the service's own check."""
    realm = posted["realm"]
    reversal = await ledger.reverse(posted["entry"], "test", None)
    entry_id = app_conn.execute(
        "INSERT INTO entries (realm, kind, reverses_entry_id, created_by, created_at, created_txid)"
        " VALUES (%s, 'reversal', %s, 'hand', now(), 0) RETURNING id", (realm, reversal["id"])).fetchone()[0]
    insert_posting(app_conn, realm, entry_id, posted["budget"], -100)
    insert_posting(app_conn, realm, entry_id, posted["wallet"], 100)
    with pytest.raises(psycopg.Error) as caught:
        app_conn.commit()
    assert caught.value.diag.message_primary == "entry_not_reversible"


def test_an_entry_with_one_posting_fails_at_commit(app_conn, posted):
    realm = posted["realm"]
    entry_id = insert_entry(app_conn, realm)
    with pytest.raises(psycopg.Error) as caught:
        app_conn.commit()
    assert caught.value.diag.message_primary == "entry_too_few_postings"
    del entry_id


def test_a_balanced_entry_by_hand_with_true_running_balances_commits(app_conn, posted):
    realm = posted["realm"]
    entry_id = insert_entry(app_conn, realm)
    insert_posting(app_conn, realm, entry_id, posted["budget"], -5)
    insert_posting(app_conn, realm, entry_id, posted["wallet"], 5)
    app_conn.commit()
    rows = app_conn.execute(
        "SELECT account_id, balance_after, account_seq FROM postings WHERE realm = %s AND entry_id = %s"
        " ORDER BY account_id", (realm, entry_id)).fetchall()
    assert rows == [(posted["budget"], 1000 - 100 - 5, 3), (posted["wallet"], 105, 2)]
    cached = app_conn.execute("SELECT balance, posting_count FROM accounts WHERE realm = %s AND id = %s",
                              (realm, posted["wallet"])).fetchone()
    assert cached == (105, 2)


@pytest.mark.parametrize("wrong", [
    {"balance_off": 1},    # a running balance that is not the one before plus the amount
    {"balance_off": -1},
    {"seq_off": 1},        # a gap in the account's history
    {"seq_off": -1},       # a place already taken
])
def test_a_posting_with_a_wrong_place_or_running_balance_is_refused(app_conn, posted, wrong):
    realm = posted["realm"]
    entry_id = insert_entry(app_conn, realm)
    with pytest.raises(psycopg.Error) as caught:
        insert_posting(app_conn, realm, entry_id, posted["wallet"], 5, **wrong)
    # a taken place is refused by the history's key, the others by the posting trigger
    assert (caught.value.diag.message_primary == "posting_chain_broken"
            or caught.value.diag.constraint_name == "postings_pkey")
    app_conn.rollback()
    assert app_conn.execute("SELECT balance FROM accounts WHERE realm = %s AND id = %s",
                            (realm, posted["wallet"])).fetchone()[0] == 100


def test_postings_in_one_statement_must_chain_among_themselves(owner_conn, posted):
    """Two postings to one account in one statement: the second must continue the first."""
    realm = posted["realm"]
    owner_conn.execute("SET ROLE pointsbank_app")
    first = insert_entry(owner_conn, realm)
    second = insert_entry(owner_conn, realm)
    balance, count = owner_conn.execute("SELECT balance, posting_count FROM accounts WHERE realm = %s"
                                        " AND id = %s FOR UPDATE", (realm, posted["wallet"])).fetchone()
    times = dict(owner_conn.execute("SELECT id, created_at FROM entries WHERE realm = %s AND id IN (%s, %s)",
                                    (realm, first, second)).fetchall())
    rows = "(%s, %s, %s, %s, 'civic', %s, %s, %s)"
    with pytest.raises(psycopg.Error) as caught:
        owner_conn.execute(
            "INSERT INTO postings (realm, entry_id, account_id, account_seq, asset, amount, balance_after,"
            f" created_at) VALUES {rows}, {rows}",
            (realm, first, posted["wallet"], count + 1, 5, balance + 5, times[first],
             realm, second, posted["wallet"], count + 2, 5, balance + 5, times[second]))  # not + 10
    assert caught.value.diag.message_primary == "posting_chain_broken"
    owner_conn.rollback()


def test_a_posting_must_take_its_entry_time(app_conn, posted):
    realm = posted["realm"]
    entry_id = insert_entry(app_conn, realm)
    with pytest.raises(psycopg.Error) as caught:
        insert_posting(app_conn, realm, entry_id, posted["wallet"], 5, time_off_s=-3600)
    assert caught.value.diag.message_primary == "posting_time_mismatch"
    app_conn.rollback()


async def test_a_writer_that_read_a_stale_balance_is_refused(app_conn, posted, ledger):
    """Read the account without its lock, let another posting commit, then write: the
    book refuses the stale running balance instead of losing the other posting."""
    realm = posted["realm"]
    entry_id = insert_entry(app_conn, realm)
    balance, count = app_conn.execute("SELECT balance, posting_count FROM accounts WHERE realm = %s"
                                      " AND id = %s", (realm, posted["wallet"])).fetchone()
    await ledger.post(earn(realm, posted["budget"], posted["wallet"], 7))
    with pytest.raises(psycopg.Error) as caught:
        app_conn.execute(
            "INSERT INTO postings (realm, entry_id, account_id, account_seq, asset, amount, balance_after,"
            " created_at) SELECT %s, %s, %s, %s, 'civic', 5, %s, e.created_at FROM entries e"
            " WHERE e.realm = %s AND e.id = %s",
            (realm, entry_id, posted["wallet"], count + 1, balance + 5, realm, entry_id))
    assert (caught.value.diag.message_primary == "posting_chain_broken"
            or caught.value.diag.constraint_name == "postings_pkey")
    app_conn.rollback()
    account = await ledger.account(posted["wallet"])
    assert account["balance"] == 107


async def test_no_posting_joins_an_entry_after_it_committed(app_conn, posted, ledger):
    realm, entry_id = posted["realm"], posted["entry"]["id"]
    [other] = await residents(ledger, realm, 1, first_id=2)  # not in the entry
    with pytest.raises(psycopg.Error) as caught:
        insert_posting(app_conn, realm, entry_id, other, 1)
    assert caught.value.diag.message_primary == "entry_closed"
    app_conn.rollback()


def test_a_posting_below_the_floor_is_refused_by_the_database(app_conn, posted):
    realm = posted["realm"]
    entry_id = insert_entry(app_conn, realm)
    with pytest.raises(psycopg.Error) as caught:
        insert_posting(app_conn, realm, entry_id, posted["budget"], -901)
    assert caught.value.diag.message_primary == "budget_exhausted"
    app_conn.rollback()


def test_entry_kinds_are_held_to_their_account_kinds_by_the_database(app_conn, posted):
    realm = posted["realm"]
    funding = app_conn.execute("SELECT id FROM accounts WHERE realm = %s AND kind = 'funding'"
                               " AND asset = 'civic'", (realm,)).fetchone()[0]
    entry_id = insert_entry(app_conn, realm)  # an `earn` straight from the funding account
    with pytest.raises(psycopg.Error) as caught:
        insert_posting(app_conn, realm, entry_id, funding, -10)
    assert caught.value.diag.message_primary == "posting_not_allowed"
    app_conn.rollback()


def test_a_zero_posting_is_refused(app_conn, posted):
    realm = posted["realm"]
    entry_id = insert_entry(app_conn, realm)
    with pytest.raises(psycopg.Error) as caught:
        insert_posting(app_conn, realm, entry_id, posted["wallet"], 0)
    assert db.CONSTRAINT_ERRORS[caught.value.diag.constraint_name] is errors.ZeroAmount
    app_conn.rollback()


def test_the_same_idempotency_key_twice_in_a_realm_is_refused(app_conn, posted):
    realm = posted["realm"]
    sql = ("INSERT INTO entries (realm, kind, idempotency_key, request_hash, created_by, created_at,"
           " created_txid) VALUES (%s, 'earn', 'same', '\\x00', 'hand', now(), 0)")
    app_conn.execute(sql, (realm,))
    with pytest.raises(psycopg.errors.UniqueViolation):
        app_conn.execute(sql, (realm,))
    app_conn.rollback()
