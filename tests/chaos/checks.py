"""The book against the clients' history, after a chaos run: each check returns the
anomalies it found (plain sentences), none when the book agrees.

An effect the clients never heard about (an operation that was never answered, counted
in `unknown`) may or may not be in the book; everything acknowledged must be there
exactly once, and nothing else may be."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import psycopg

if TYPE_CHECKING:
    from tests.chaos.bank import History

CLOSED = ("redeemed", "partially_redeemed", "cancelled", "expired")


def check_book(conn: psycopg.Connection, realm: str, history: "History", unknown: Counter[str]) -> list[str]:
    problems: list[str] = []
    for check in (fundings, awards, vouchers, closed_once, reservations, settlements, reversals, floors, totals, service_awards):
        problems += list(check(conn, realm, history, unknown))
    return problems


def _rows(conn: psycopg.Connection, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return conn.execute(sql, params).fetchall()


def funded(conn: psycopg.Connection, realm: str) -> int:
    return sum(points for (points,) in _rows(
        conn, "SELECT -balance FROM accounts WHERE realm = %s AND kind = 'funding' AND asset = 'civic'", realm))


def fundings(conn, realm, history, unknown) -> Iterator[str]:
    stored = dict(_rows(conn, "SELECT e.id, p.amount FROM entries e JOIN postings p ON (p.realm, p.entry_id) = (e.realm, e.id) "
                              "JOIN accounts a ON (a.realm, a.id) = (p.realm, p.account_id) "
                              "WHERE e.realm = %s AND e.kind = 'fund' AND a.kind = 'budget'", realm))
    for entry_id, points in history.fundings.items():
        if stored.get(entry_id) != points:
            yield f"funding entry {entry_id} of {points} acknowledged, book has {stored.get(entry_id)}"
    acked = sum(history.fundings.values())
    total = funded(conn, realm)
    if not acked <= total <= acked + history.unknown_funding_points:
        yield (f"funded {total} in the book, acknowledged {acked} "
               f"(+ at most {history.unknown_funding_points} never answered)")


def awards(conn, realm, history, unknown) -> Iterator[str]:
    stored = {(activity, resident): (entry, points) for activity, resident, entry, points in _rows(
        conn, "SELECT activity_id, resident_id, entry_id, points FROM awards WHERE realm = %s", realm)}
    for place, award in history.awards.items():
        if stored.get(place) != award:
            yield f"award {place} acknowledged as {award}, book has {stored.get(place)}"
    extra = set(stored) - set(history.awards)
    if extra and not unknown["attend"]:
        yield f"{len(extra)} awards in the book that no client was told of, e.g. {sorted(extra)[:3]}"


def vouchers(conn, realm, history, unknown) -> Iterator[str]:
    stored = {row[0]: row[1:] for row in _rows(
        conn, "SELECT v.id, v.amount, v.status, v.captured_amount, r.id, r.entry_id FROM vouchers v "
              "LEFT JOIN redemptions r ON (r.realm, r.voucher_id) = (v.realm, v.id) WHERE v.realm = %s", realm)}
    for voucher_id, voucher in history.vouchers.items():
        if voucher_id not in stored or stored[voucher_id][0] != voucher.amount:
            yield f"voucher {voucher_id} of {voucher.amount} acknowledged, book has {stored.get(voucher_id)}"
    if len(stored) != len(history.vouchers) and not unknown["issue"]:
        yield f"{len(stored)} vouchers in the book, {len(history.vouchers)} acknowledged"
    for voucher_id, captures in history.captures.items():
        if len(captures) != 1:
            yield f"voucher {voucher_id}: {len(captures)} captures acknowledged"
        amount, status, captured, redemption_id, entry_id = stored.get(voucher_id, (None,) * 5)
        capture = captures[0]
        if (status not in ("redeemed", "partially_redeemed") or captured != capture["amount"]
                or (redemption_id, entry_id) != (capture["id"], capture["entry_id"])):
            yield (f"voucher {voucher_id} capture {capture} acknowledged, book has {status} "
                   f"captured {captured} redemption {redemption_id} entry {entry_id}")
    for voucher_id in history.cancelled:
        if stored.get(voucher_id, (None, None))[1] != "cancelled":
            yield f"voucher {voucher_id} cancel acknowledged, book has {stored.get(voucher_id)}"
    for voucher_id in history.expired:
        if stored.get(voucher_id, (None, None))[1] != "expired":
            yield f"voucher {voucher_id} expired by the sweep, book has {stored.get(voucher_id)}"
    for voucher in history.pool:   # issued and never touched
        if stored.get(voucher.id, (None, None))[1] != "issued":
            yield f"voucher {voucher.id} was never redeemed or cancelled, book has {stored.get(voucher.id)}"
    closed = {v for v, row in stored.items() if row[1] in CLOSED}
    stray = sorted(closed - set(history.captures) - history.cancelled - history.expired)
    if stray and not (unknown["redeem"] or unknown["cancel"]):
        yield f"vouchers closed that no client was told of: {stray[:5]}"


def closed_once(conn, realm, history, unknown) -> Iterator[str]:
    """Each closed voucher has exactly one capture-or-release entry; an open one none."""
    for voucher_id, status, closes in _rows(
            conn, "SELECT v.id, v.status, count(e.id) FROM vouchers v LEFT JOIN entries e "
                  "ON e.realm = v.realm AND e.reference = 'voucher:' || encode(v.serial, 'hex') "
                  "AND e.kind IN ('capture', 'release') WHERE v.realm = %s GROUP BY v.id, v.status", realm):
        if closes != (1 if status in CLOSED else 0):
            yield f"voucher {voucher_id} ({status}) has {closes} capture/release entries"


def reservations(conn, realm, history, unknown) -> Iterator[str]:
    """Each acknowledged priority booking is in the book with its hold; a closed one has
    exactly one capture or release, matching the status a client was told."""
    stored = {row[0]: row[1:] for row in _rows(
        conn, "SELECT v.id, v.status, v.points, string_agg(e.kind, ',' ORDER BY e.id) FROM reservations v "
              "LEFT JOIN entries e ON e.realm = v.realm AND e.reference = 'reservation:' || v.id "
              "WHERE v.realm = %s AND v.priority GROUP BY v.id, v.status, v.points", realm)}
    for reservation_id, statuses in history.reservations.items():
        if reservation_id not in stored:
            yield f"reservation {reservation_id} acknowledged, not in the book"
            continue
        status, points, kinds = stored[reservation_id]
        if statuses and statuses != {status}:
            yield f"reservation {reservation_id} acknowledged as {sorted(statuses)}, book has {status}"
    for reservation_id, (status, points, kinds) in stored.items():
        expected = {"held": "hold", "captured": "hold,capture", "released": "hold,release"}[points]
        if kinds != expected:
            yield f"reservation {reservation_id} ({status}, points {points}) has entries {kinds}"
    if len(stored) != len(history.reservations) and not unknown["reserve"]:
        yield f"{len(stored)} priority reservations in the book, {len(history.reservations)} acknowledged"


def settlements(conn, realm, history, unknown) -> Iterator[str]:
    stored = {row[0]: row[1:] for row in _rows(
        conn, "SELECT id, merchant_id, points, entry_id FROM settlements WHERE realm = %s", realm)}
    for settlement_id, body in history.settlements.items():
        if stored.get(settlement_id) != (body["merchant_id"], body["points"], body["entry_id"]):
            yield f"settlement {settlement_id} acknowledged as {body['points']} points, book has {stored.get(settlement_id)}"
    if len(stored) != len(history.settlements) and not unknown["settle"]:
        yield f"{len(stored)} settlements in the book, {len(history.settlements)} acknowledged"


def reversals(conn, realm, history, unknown) -> Iterator[str]:
    reversed_by = dict(_rows(conn, "SELECT reverses_entry_id, id FROM entries WHERE realm = %s AND kind = 'reversal'", realm))
    adjustments = {entry_id for (entry_id,) in _rows(
        conn, "SELECT id FROM entries WHERE realm = %s AND kind = 'adjustment'", realm)}
    for entry_id, reversal_id in history.adjustments.items():
        if entry_id not in adjustments:
            yield f"adjustment {entry_id} acknowledged, not in the book"
        if reversal_id and reversed_by.get(entry_id) != reversal_id:
            yield f"reversal {reversal_id} of {entry_id} acknowledged, book has {reversed_by.get(entry_id)}"


def floors(conn, realm, history, unknown) -> Iterator[str]:
    for account_id, kind, balance, floor in _rows(
            conn, "SELECT id, kind, balance, floor FROM accounts WHERE realm = %s AND floor IS NOT NULL "
                  "AND balance < floor", realm):
        yield f"{kind} account {account_id} at {balance}, below its floor {floor}"


def totals(conn, realm, history, unknown) -> Iterator[str]:
    """Every point in the realm came from funding: the balances outside the funding
    account add up to what was funded, and everything adds up to zero."""
    for asset, total in _rows(conn, "SELECT asset, sum(balance) FROM accounts WHERE realm = %s GROUP BY asset", realm):
        if total != 0:
            yield f"trial balance of {asset} is {total}, not 0"
    (held,) = _rows(conn, "SELECT coalesce(sum(balance), 0) FROM accounts WHERE realm = %s AND asset = 'civic' "
                          "AND kind <> 'funding'", realm)[0]
    if held != funded(conn, realm):
        yield f"balances outside funding add up to {held}, funded {funded(conn, realm)}"


def service_awards(conn, realm, history, unknown) -> Iterator[str]:
    """Each acknowledged confirmation paid exactly what its answer said, once; no request
    was paid that no client heard confirmed (unless a confirmation went unanswered)."""
    stored: dict[int, set[tuple[str, int, int]]] = {}
    for request_id, kind, resident_id, points in _rows(
            conn, "SELECT request_id, kind, resident_id, points FROM service_awards WHERE realm = %s", realm):
        stored.setdefault(request_id, set()).add((kind, resident_id, points))
    for request_id, paid in history.service_awards.items():
        if stored.get(request_id) != paid:
            yield f"service request {request_id} acknowledged paying {paid}, book has {stored.get(request_id)}"
    extra = set(stored) - set(history.service_awards)
    if extra and not unknown["serve"]:
        yield f"{len(extra)} service requests paid that no client was told of, e.g. {sorted(extra)[:3]}"
    # a confirmation pays its volunteer nothing only when the 志愿 rule's cap was reached that day
    (unpaid,) = _rows(conn, "SELECT count(*) FROM service_requests r JOIN realms z ON z.code = r.realm "
                            "WHERE r.realm = %s AND r.state = 'confirmed' "
                            "AND NOT EXISTS (SELECT 1 FROM service_awards a WHERE a.realm = r.realm "
                            "AND a.request_id = r.id AND a.kind = 'volunteer') "
                            "AND earning_earned_on_day(r.realm, r.volunteer_id, 'volunteering', "
                            "(r.done_at AT TIME ZONE z.timezone)::date) < (SELECT min(daily_cap_points) "
                            "FROM activity_rules WHERE realm = r.realm AND activity_type = 'volunteering')",
                      realm)[0]
    if unpaid:
        yield f"{unpaid} confirmed service requests without their volunteer's award, under the day's cap"
    (past_cap,) = _rows(conn, "SELECT count(*) FROM (SELECT resident_id, activity_type, award_day, sum(points) AS points "
                              "  FROM (SELECT resident_id, activity_type, award_day, points FROM awards WHERE realm = %s "
                              "        UNION ALL SELECT resident_id, activity_type, award_day, points FROM service_awards "
                              "        WHERE realm = %s AND activity_type IS NOT NULL) earned "
                              "  GROUP BY 1, 2, 3) d "
                              "WHERE d.points > (SELECT max(daily_cap_points) FROM activity_rules "
                              "                  WHERE realm = %s AND activity_type = d.activity_type)",
                        realm, realm, realm)[0]
    if past_cap:
        yield f"{past_cap} residents' days earned past their rule's daily cap"
