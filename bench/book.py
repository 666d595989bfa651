"""A big book, generated in bulk: residents, their accounts, earn entries and postings
(and optionally vouchers and awards) in one realm, in seconds per million rows.

Loaded the way a restore would load it: as the database owner with triggers bypassed
(`session_replication_role = replica`), with every number the triggers would have
checked computed in closed form instead, so the book stays sound (balances chain,
entries balance, cached balances match) and the service can keep writing to it.

Each resident account gets a contiguous block of earn entries (budget -> resident, a
fixed amount each), so every index of `postings` is filled in key order and no sort or
window function runs: 10 million postings load in a few minutes, not tens of minutes.
Ids come from blocks reserved on each table's identity sequence.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg

EARN_POINTS = 5          # points per generated earn entry
BUDGET_SPARE_POINTS = 10**12  # left in the budget after the generated earnings
ENTRIES_PER_STATEMENT = 500_000  # earn entries (and their postings) per INSERT, with progress between


@dataclass(frozen=True)
class Book:
    realm: str
    first_resident_id: int    # residents (and their civic accounts) are consecutive ids
    first_account_id: int
    residents: int
    entries: int              # earn entries generated (two postings each)
    postings_per_resident: int
    first_entry_id: int = 0   # the earn entries, each the next id


def generate_book(database_url: str, realm: str, residents: int, entries: int,
                  station_id: int | None = None, vouchers: int = 0,
                  activity_id: int | None = None,
                  progress: Callable[[int, int], None] | None = None) -> Book:
    """Load into `realm` (created with its funding and budget accounts when absent):
    `residents` resident accounts of `civic`, and `entries` earn entries from the budget
    to them (after one fund entry that covers them). With `station_id`, the residents are
    also rows of `residents` at that station (their ids are the accounts' resident ids);
    `vouchers` redeemed vouchers, and with `activity_id` an award per earn entry (days in
    2020, so no daily cap today is touched), make those tables grow as well. `progress`
    hears (entries loaded, entries) as the entries go in."""
    with psycopg.connect(database_url) as conn:
        conn.execute("SET session_replication_role = replica")
        if conn.execute("SELECT 1 FROM realms WHERE code = %s", (realm,)).fetchone() is None:
            conn.execute("INSERT INTO realms (code, name) VALUES (%s, 'bulk')", (realm,))
            conn.execute("""
                INSERT INTO accounts (realm, kind, asset, floor, label)
                VALUES (%(r)s, 'funding', 'civic', NULL, 'funding'), (%(r)s, 'budget', 'civic', 0, 'budget')""",
                         {"r": realm})
        book = _load(conn, realm, residents, entries, station_id, vouchers, activity_id, progress)
        conn.execute("SET session_replication_role = origin")
        conn.commit()
    return book


def _reserve(conn: psycopg.Connection, table: str, count: int) -> int:
    """The first of `count` consecutive ids taken from `table`'s identity sequence."""
    sequence = conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", (table,)).fetchone()[0]
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (sequence,))
    first = conn.execute("SELECT nextval(%s)", (sequence,)).fetchone()[0]
    if count > 1:
        conn.execute("SELECT setval(%s, %s)", (sequence, first + count - 1))
    return first


def _load(conn: psycopg.Connection, realm: str, residents: int, entries: int, station_id: int | None,
          vouchers: int, activity_id: int | None, progress: Callable[[int, int], None] | None) -> Book:
    per_resident = max(1, -(-entries // max(residents, 1)))  # the last residents may get fewer
    if station_id is not None:
        first_resident = _reserve(conn, "residents", residents)
    else:  # resident ids past any the realm already has (they are unique per realm)
        first_resident = conn.execute("SELECT coalesce(max(resident_id), 0) + 1 FROM accounts WHERE realm = %s",
                                      (realm,)).fetchone()[0]
    if station_id is not None:
        conn.execute("""
            INSERT INTO residents (realm, id, station_id, code) OVERRIDING SYSTEM VALUE
            SELECT %(r)s, %(first)s + n, %(station)s, 'BULK' || (%(first)s + n)
              FROM generate_series(0, %(count)s - 1) n""",
                     {"r": realm, "first": first_resident, "station": station_id, "count": residents})
    first_account = _reserve(conn, "accounts", residents)
    conn.execute("""
        INSERT INTO accounts (realm, id, kind, asset, floor, balance, posting_count, resident_id)
        OVERRIDING SYSTEM VALUE
        SELECT %(r)s, %(first)s + n, 'resident', 'civic', 0,
               greatest(0, least(%(per)s, %(entries)s - n * %(per)s)) * %(points)s,
               greatest(0, least(%(per)s, %(entries)s - n * %(per)s)), %(resident)s + n
          FROM generate_series(0, %(count)s - 1) n""",
                 {"r": realm, "first": first_account, "count": residents, "per": per_resident,
                  "entries": entries, "points": EARN_POINTS, "resident": first_resident})
    book = Book(realm, first_resident, first_account, residents, entries, per_resident)
    if entries:
        book = _load_entries(conn, book, progress or (lambda done, total: None))
    if vouchers:
        _load_vouchers(conn, book, vouchers)
    if activity_id is not None and entries:
        _load_awards(conn, book, activity_id)
    return book


def _load_entries(conn: psycopg.Connection, book: Book, progress: Callable[[int, int], None]) -> Book:
    """One fund entry, then `book.entries` earn entries; entry n pays resident n / per."""
    funding, budget, budget_balance, budget_count, funding_balance, funding_count = conn.execute("""
        SELECT f.id, b.id, b.balance, b.posting_count, f.balance, f.posting_count
          FROM accounts f, accounts b
         WHERE f.realm = %(r)s AND f.kind = 'funding' AND f.asset = 'civic'
           AND b.realm = %(r)s AND b.kind = 'budget' AND b.asset = 'civic'""", {"r": book.realm}).fetchone()
    fund = book.entries * EARN_POINTS + BUDGET_SPARE_POINTS
    fund_id = _reserve(conn, "entries", book.entries + 1)
    values = {"r": book.realm, "fund_id": fund_id, "count": book.entries, "per": book.postings_per_resident,
              "points": EARN_POINTS, "fund": fund, "funding": funding, "budget": budget,
              "budget_balance": budget_balance + fund, "budget_count": budget_count + 1,
              "first_account": book.first_account_id}
    conn.execute("""
        INSERT INTO entries (realm, id, kind, created_by, created_at, created_txid) OVERRIDING SYSTEM VALUE
        VALUES (%(r)s, %(fund_id)s, 'fund', 'bulk', now(), txid_current())""", values)
    conn.execute("""
        INSERT INTO postings (realm, entry_id, account_id, account_seq, asset, amount, balance_after, created_at)
        VALUES (%(r)s, %(fund_id)s, %(funding)s, %(funding_count)s + 1, 'civic', -%(fund)s::bigint,
                %(funding_balance)s - %(fund)s::bigint, now()),
               (%(r)s, %(fund_id)s, %(budget)s, %(budget_count)s, 'civic', %(fund)s::bigint,
                %(budget_balance)s, now())""",
                 {**values, "funding_count": funding_count, "funding_balance": funding_balance})
    for first in range(0, book.entries, ENTRIES_PER_STATEMENT):
        _load_earnings(conn, {**values, "first": first,
                              "last": min(first + ENTRIES_PER_STATEMENT, book.entries) - 1})
        progress(min(first + ENTRIES_PER_STATEMENT, book.entries), book.entries)
    conn.execute("""
        UPDATE accounts SET balance = balance - %(fund)s::bigint, posting_count = posting_count + 1
         WHERE realm = %(r)s AND id = %(funding)s""", values)
    conn.execute("""
        UPDATE accounts SET balance = %(budget_balance)s - %(count)s * %(points)s::bigint,
                            posting_count = %(budget_count)s + %(count)s
         WHERE realm = %(r)s AND id = %(budget)s""", values)
    return Book(book.realm, book.first_resident_id, book.first_account_id, book.residents, book.entries,
                book.postings_per_resident, fund_id + 1)


def _load_earnings(conn: psycopg.Connection, values: dict) -> None:
    """Earn entries n = first..last (entry fund_id + 1 + n) and their two postings each."""
    conn.execute("""
        INSERT INTO entries (realm, id, kind, created_by, created_at, created_txid) OVERRIDING SYSTEM VALUE
        SELECT %(r)s, %(fund_id)s + 1 + n, 'earn', 'bulk', now() + (n + 1) * interval '1 microsecond',
               txid_current()
          FROM generate_series(%(first)s::bigint, %(last)s::bigint) n""", values)
    conn.execute("""
        INSERT INTO postings (realm, entry_id, account_id, account_seq, asset, amount, balance_after, created_at)
        SELECT %(r)s, %(fund_id)s + 1 + n, leg.account_id, leg.seq, 'civic', leg.amount, leg.balance,
               now() + (n + 1) * interval '1 microsecond'
          FROM generate_series(%(first)s::bigint, %(last)s::bigint) n,
               LATERAL (VALUES (%(budget)s::bigint, %(budget_count)s + 1 + n, -%(points)s::bigint,
                                %(budget_balance)s - (n + 1) * %(points)s),
                               (%(first_account)s + n / %(per)s, n %% %(per)s + 1, %(points)s::bigint,
                                (n %% %(per)s + 1) * %(points)s)) AS leg (account_id, seq, amount, balance)""",
                 values)


def _load_vouchers(conn: psycopg.Connection, book: Book, count: int) -> None:
    """Redeemed vouchers (closed, so no hold is outstanding), one per resident in turn."""
    first = _reserve(conn, "vouchers", count)
    conn.execute("""
        INSERT INTO vouchers (realm, id, serial, short_code, code, key_id, resident_id, resident_account_id,
                              hold_account_id, asset, amount, expires_at, status, captured_amount,
                              hold_entry_id, created_by, closed_at)
        OVERRIDING SYSTEM VALUE
        SELECT %(r)s, %(first)s + n, decode(md5(%(r)s || ':' || (%(first)s + n)), 'hex'),
               upper(substr(md5('short:' || %(r)s || ':' || (%(first)s + n)), 1, 13)), 'PB1:BULK', 1,
               %(resident)s + n %% %(residents)s, %(account)s + n %% %(residents)s, hold.id, 'civic', 1,
               now() + interval '30 days', 'redeemed', 1, %(entry)s, 'bulk', now()
          FROM generate_series(0, %(count)s - 1) n,
               (SELECT id FROM accounts WHERE realm = %(r)s AND kind = 'hold' AND asset = 'civic') hold""",
                 {"r": book.realm, "first": first, "count": count, "resident": book.first_resident_id,
                  "account": book.first_account_id, "residents": book.residents,
                  "entry": book.first_entry_id})


def _load_awards(conn: psycopg.Connection, book: Book, activity_id: int) -> None:
    """One award per resident's first earn entry, of the activity, on a day in 2020."""
    conn.execute("""
        INSERT INTO awards (realm, activity_id, resident_id, entry_id, activity_type, rule_version, asset,
                            minutes, points, award_day)
        SELECT %(r)s, %(activity)s, %(resident)s + n, %(entry)s + n * %(per)s, a.activity_type, 1, 'civic',
               60, %(points)s, date '2020-01-01' + (n %% 366)::int
          FROM generate_series(0, %(count)s - 1) n,
               (SELECT activity_type FROM activities WHERE realm = %(r)s AND id = %(activity)s) a""",
                 {"r": book.realm, "activity": activity_id, "resident": book.first_resident_id,
                  "entry": book.first_entry_id, "per": book.postings_per_resident, "points": EARN_POINTS,
                  "count": (book.entries + book.postings_per_resident - 1) // book.postings_per_resident})
