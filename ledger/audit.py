"""Reconciliation: named checks over the whole book, each reporting ok or the offending ids.

Checks are a registry that other packages extend. A check is either SQL that selects the
offending rows (`register_sql_check`), or a coroutine (`register_check`) that returns
them. Every check runs set-based in the database (one pass over its tables), all of them
inside one REPEATABLE READ READ ONLY transaction, so the figures agree with each other
while writers keep committing.

To add a check from another package (say merchants/audit.py, imported by the app):

    from ledger.audit import register_sql_check

    register_sql_check(
        "merchant_balances_match_settlements",
        "each merchant account's balance = its captures - its settlements",
        '''SELECT a.realm, a.id AS account_id, ... FROM accounts a ...
            WHERE (CAST(:realm AS text) IS NULL OR a.realm = :realm) AND <mismatch>''')

The SQL takes the parameter `:realm` (NULL: every realm) and returns one row per
offence; its columns (ids, expected and actual figures) are reported as they are.
"""
from __future__ import annotations

import time
from decimal import Decimal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger import checkpoint_repository, checkpoints, errors, key_registry
from ledger.require import require

OFFENDING_SHOWN_MAX = 100  # offending rows reported per check (the count says if more)
AUDIT_WORK_MEM_MB = 128    # per sort or hash in the audit's transaction

Progress = Callable[[str], None]


@dataclass
class AuditContext:
    conn: AsyncConnection
    realm: str | None              # None: every realm
    progress: Progress
    notes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # per check: rows
    # that pass but an auditor should read (e.g. checkpoints signed by an acknowledged key)


CheckRun = Callable[[AuditContext], Awaitable[list[dict[str, Any]]]]


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    run: CheckRun


@dataclass
class CheckResult:
    name: str
    description: str
    ok: bool
    offending: list[dict[str, Any]]
    truncated: bool
    seconds: float
    notes: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "ok": self.ok,
                "offending": self.offending, "truncated": self.truncated,
                "notes": self.notes, "seconds": round(self.seconds, 3)}


@dataclass
class Report:
    realm: str | None
    results: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)

    def as_json(self) -> dict[str, Any]:
        return {"realm": self.realm, "ok": self.ok,
                "failed": [r.name for r in self.results if not r.ok],
                "checks": [r.as_json() for r in self.results]}


CHECKS: dict[str, Check] = {}


def register_check(name: str, description: str, run: CheckRun) -> Check:
    require(name not in CHECKS, f"audit check {name!r} is registered twice")
    check = Check(name, description, run)
    CHECKS[name] = check
    return check


def register_sql_check(name: str, description: str, sql: str) -> Check:
    statement = text(f"SELECT * FROM ({sql}) offending LIMIT {OFFENDING_SHOWN_MAX + 1}")

    async def run(ctx: AuditContext) -> list[dict[str, Any]]:
        rows = await ctx.conn.execute(statement, {"realm": ctx.realm})
        return [_plain(dict(row._mapping)) for row in rows]

    return register_check(name, description, run)


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """JSON-ready: sums come back from PostgreSQL as numeric, hashes as bytes."""
    return {k: (bytes(v).hex() if isinstance(v, (bytes, memoryview))
                else int(v) if isinstance(v, Decimal) else v) for k, v in row.items()}


async def run_audit(engine: AsyncEngine, realm: str | None = None,
                    progress: Progress | None = None,
                    names: list[str] | None = None) -> Report:
    """Run the registered checks (or those named) on one consistent snapshot. An unknown
    realm is an error (`realm_not_found`), never a pass."""
    report = Report(realm)
    selected = [CHECKS[name] for name in (names or list(CHECKS))]
    say = progress or (lambda message: None)
    async with engine.connect() as conn:
        await conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        # big sorts and hashes stay in memory; JIT compiling costs more than it saves here
        await conn.execute(text(f"SET LOCAL work_mem = '{AUDIT_WORK_MEM_MB}MB'"))
        await conn.execute(text("SET LOCAL jit = off"))
        if realm is not None and not await checkpoint_repository.realm_exists(conn, realm):
            raise errors.RealmNotFound(f"no realm {realm}", realm=realm)
        ctx = AuditContext(conn, realm, say)
        for number, check in enumerate(selected, 1):
            say(f"[{number}/{len(selected)}] {check.name}")
            started = time.perf_counter()
            offending = await check.run(ctx)
            report.results.append(CheckResult(
                check.name, check.description, ok=not offending,
                offending=offending[:OFFENDING_SHOWN_MAX],
                truncated=len(offending) > OFFENDING_SHOWN_MAX,
                seconds=time.perf_counter() - started,
                notes=ctx.notes.get(check.name, [])[:OFFENDING_SHOWN_MAX]))
        await conn.rollback()
    return report


# The realm filter every check applies.
IN_REALM = "(CAST(:realm AS text) IS NULL OR {column} = :realm)"


def _in_realm(column: str) -> str:
    return IN_REALM.format(column=column)


# ledger checks ---------------------------------------------------------------------------

register_sql_check(
    "trial_balance",
    "per realm and asset, postings and cached balances each sum to zero",
    f"""
    SELECT coalesce(p.realm, a.realm) AS realm, coalesce(p.asset, a.asset) AS asset,
           coalesce(p.total, 0) AS postings_total, coalesce(a.total, 0) AS balances_total
      FROM (SELECT realm, asset, sum(amount) AS total FROM postings
             WHERE {_in_realm('realm')} GROUP BY realm, asset) p
      FULL JOIN (SELECT realm, asset, sum(balance) AS total FROM accounts
                  WHERE {_in_realm('realm')} GROUP BY realm, asset) a
        ON a.realm = p.realm AND a.asset = p.asset
     WHERE coalesce(p.total, 0) <> 0 OR coalesce(a.total, 0) <> 0""")

register_sql_check(
    "cached_balances",
    "every account's cached balance = sum of its postings = its last running balance, "
    "and its posting count = its number of postings",
    f"""
    SELECT a.realm, a.id AS account_id, a.balance AS cached_balance,
           coalesce(s.total, 0) AS postings_sum, last.balance_after AS last_running_balance,
           a.posting_count AS cached_count, coalesce(s.n, 0) AS postings_count
      FROM accounts a
      LEFT JOIN (SELECT realm, account_id, sum(amount) AS total, count(*) AS n,
                        max(account_seq) AS last_seq
                   FROM postings WHERE {_in_realm('realm')}
                  GROUP BY realm, account_id) s
        ON s.realm = a.realm AND s.account_id = a.id
      LEFT JOIN postings last
        ON last.realm = s.realm AND last.account_id = s.account_id AND last.account_seq = s.last_seq
     WHERE {_in_realm('a.realm')}
       AND (a.balance <> coalesce(s.total, 0)
            OR a.balance <> coalesce(last.balance_after, 0)
            OR a.posting_count <> coalesce(s.n, 0))
    UNION ALL
    SELECT p.realm, p.account_id, NULL, sum(p.amount), NULL, NULL, count(*)
      FROM postings p
     WHERE {_in_realm('p.realm')}
       AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.realm = p.realm AND a.id = p.account_id)
     GROUP BY p.realm, p.account_id""")

register_sql_check(
    "running_balances",
    "each account's postings are numbered 1..n and each running balance = the previous "
    "one + the amount; each posting's asset is its account's",
    f"""
    SELECT realm, account_id, account_seq, entry_id, amount, balance_after,
           expected_seq, expected_balance
      FROM (SELECT p.realm, p.account_id, p.account_seq, p.entry_id, p.amount, p.balance_after,
                   row_number() OVER w AS expected_seq,
                   coalesce(lag(p.balance_after) OVER w, 0) + p.amount AS expected_balance
              FROM postings p WHERE {_in_realm('p.realm')}
            WINDOW w AS (PARTITION BY p.realm, p.account_id ORDER BY p.account_seq)) chained
     WHERE account_seq <> expected_seq OR balance_after <> expected_balance
    UNION ALL
    SELECT p.realm, p.account_id, p.account_seq, p.entry_id, p.amount, p.balance_after, NULL, NULL
      FROM postings p JOIN accounts a ON a.realm = p.realm AND a.id = p.account_id
     WHERE {_in_realm('p.realm')} AND p.asset <> a.asset""")

register_sql_check(
    "balance_floors",
    "no account is below its floor, now or after any posting",
    f"""
    SELECT a.realm, a.id AS account_id, a.kind, a.floor, a.balance, NULL::bigint AS account_seq
      FROM accounts a
     WHERE {_in_realm('a.realm')} AND a.floor IS NOT NULL AND a.balance < a.floor
    UNION ALL
    SELECT p.realm, p.account_id, a.kind, a.floor, p.balance_after, p.account_seq
      FROM postings p JOIN accounts a ON a.realm = p.realm AND a.id = p.account_id
     WHERE {_in_realm('p.realm')} AND a.floor IS NOT NULL AND p.balance_after < a.floor""")

register_sql_check(
    "entries_balanced",
    "every entry has at least two postings, none zero, summing to zero per asset; "
    "every posting belongs to an entry",
    f"""
    SELECT e.realm, e.id AS entry_id, coalesce(s.n, 0) AS postings,
           coalesce(s.unbalanced_assets, 0) AS unbalanced_assets, coalesce(s.zero, 0) AS zero_amounts
      FROM entries e
      LEFT JOIN (SELECT realm, entry_id, sum(n) AS n, count(*) FILTER (WHERE total <> 0) AS unbalanced_assets,
                        sum(zero) AS zero
                   FROM (SELECT realm, entry_id, asset, count(*) AS n, sum(amount) AS total,
                                count(*) FILTER (WHERE amount = 0) AS zero
                           FROM postings WHERE {_in_realm('realm')}
                          GROUP BY realm, entry_id, asset) per_asset
                  GROUP BY realm, entry_id) s
        ON s.realm = e.realm AND s.entry_id = e.id
     WHERE {_in_realm('e.realm')}
       AND (coalesce(s.n, 0) < 2 OR s.unbalanced_assets > 0 OR s.zero > 0)
    UNION ALL
    SELECT p.realm, p.entry_id, count(*), NULL, NULL
      FROM postings p
     WHERE {_in_realm('p.realm')}
       AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.realm = p.realm AND e.id = p.entry_id)
     GROUP BY p.realm, p.entry_id""")

register_sql_check(
    "posting_rules",
    "every posting of a non-reversal entry debits or credits an account kind its entry "
    "kind may touch",
    f"""
    SELECT p.realm, p.entry_id, e.kind AS entry_kind, p.account_id, a.kind AS account_kind, p.amount
      FROM postings p
      JOIN entries e ON e.realm = p.realm AND e.id = p.entry_id
      JOIN accounts a ON a.realm = p.realm AND a.id = p.account_id
     WHERE {_in_realm('p.realm')} AND e.kind <> 'reversal'
       AND NOT EXISTS (SELECT 1 FROM entry_rules r WHERE r.entry_kind = e.kind
                          AND r.account_kind = a.kind AND r.direction = sign(p.amount))""")

register_sql_check(
    "reversals",
    "each reversal mirrors exactly one earlier entry of a reversible kind, and no entry "
    "is reversed twice",
    f"""
    WITH reversal AS (
        SELECT realm, id, reverses_entry_id AS original_id, kind FROM entries
         WHERE {_in_realm('realm')} AND (reverses_entry_id IS NOT NULL OR kind = 'reversal'))
    SELECT r.realm, r.id AS entry_id, r.original_id,
           CASE WHEN r.kind <> 'reversal' OR r.original_id IS NULL THEN 'kind and reversed entry disagree'
                WHEN o.id IS NULL THEN 'reversed entry is missing'
                WHEN o.kind NOT IN ('fund', 'earn', 'adjustment') THEN 'reversed entry is not reversible'
                WHEN o.id >= r.id THEN 'reversal is older than its entry'
                ELSE 'reversed more than once' END AS problem
      FROM reversal r
      LEFT JOIN entries o ON o.realm = r.realm AND o.id = r.original_id
     WHERE r.kind <> 'reversal' OR r.original_id IS NULL OR o.id IS NULL
        OR o.kind NOT IN ('fund', 'earn', 'adjustment') OR o.id >= r.id
        OR EXISTS (SELECT 1 FROM entries twice WHERE twice.realm = r.realm
                      AND twice.reverses_entry_id = r.original_id AND twice.id <> r.id)
    UNION ALL
    SELECT DISTINCT coalesce(mine.realm, mirror.realm), coalesce(mine.id, mirror.id),
           coalesce(mine.original_id, mirror.original_id), 'postings are not the mirror of the reversed entry'
      FROM (SELECT r.realm, r.id, r.original_id, p.account_id, p.amount
              FROM reversal r JOIN postings p ON p.realm = r.realm AND p.entry_id = r.id) mine
      FULL JOIN (SELECT r.realm, r.id, r.original_id, p.account_id, -p.amount AS amount
                   FROM reversal r JOIN postings p ON p.realm = r.realm AND p.entry_id = r.original_id) mirror
        ON mirror.realm = mine.realm AND mirror.id = mine.id AND mirror.account_id = mine.account_id
       AND mirror.amount = mine.amount
     WHERE mine.id IS NULL OR mirror.id IS NULL""")

# Points enter circulation only by earning (invariant 6). Per realm and asset, over earn
# entries and the reversals of earn entries:
#   points created = credits to resident accounts (net of reversals)
#   budget spent   = debits of budget accounts (net of reversals)
# and the two are equal; and the budget never spent more than was funded into it (fund
# entries net of their reversals, plus adjustments into the budget).
register_sql_check(
    "points_created_equal_budget_spent",
    "per realm and asset, points earned by residents (net of reversals) = budget spent "
    "on earning (net of reversals) <= budget funded",
    f"""
    WITH moves AS (
        SELECT p.realm, p.asset, a.kind AS account_kind,
               coalesce(o.kind, e.kind) AS source_kind, p.amount
          FROM postings p
          JOIN entries e ON e.realm = p.realm AND e.id = p.entry_id
          LEFT JOIN entries o ON o.realm = e.realm AND o.id = e.reverses_entry_id
          JOIN accounts a ON a.realm = p.realm AND a.id = p.account_id
         WHERE {_in_realm('p.realm')} AND a.kind IN ('resident', 'budget')),
    totals AS (
        SELECT realm, asset,
               coalesce(sum(amount) FILTER (WHERE source_kind = 'earn' AND account_kind = 'resident'), 0) AS created,
               coalesce(-sum(amount) FILTER (WHERE source_kind = 'earn' AND account_kind = 'budget'), 0) AS spent,
               coalesce(sum(amount) FILTER (WHERE source_kind IN ('fund', 'adjustment')
                                              AND account_kind = 'budget'), 0) AS funded
          FROM moves GROUP BY realm, asset)
    SELECT realm, asset, created, spent, funded FROM totals
     WHERE created <> spent OR spent > funded""")

register_sql_check(
    "clearing_mirror",
    "between two realms, per asset, the clearing account for B in A = minus the clearing "
    "account for A in B (by postings)",
    f"""
    WITH clearing AS (
        SELECT a.realm, a.counterpart_realm, a.asset, coalesce(sum(p.amount), 0) AS total
          FROM accounts a LEFT JOIN postings p ON p.realm = a.realm AND p.account_id = a.id
         WHERE a.kind = 'clearing'
         GROUP BY a.realm, a.counterpart_realm, a.asset)
    SELECT coalesce(x.realm, y.counterpart_realm) AS realm,
           coalesce(x.counterpart_realm, y.realm) AS counterpart_realm,
           coalesce(x.asset, y.asset) AS asset,
           coalesce(x.total, 0) AS clearing_here, coalesce(y.total, 0) AS clearing_there
      FROM clearing x
      FULL JOIN clearing y
        ON y.realm = x.counterpart_realm AND y.counterpart_realm = x.realm AND y.asset = x.asset
     WHERE coalesce(x.total, 0) + coalesce(y.total, 0) <> 0
       AND (x.realm IS NULL OR y.realm IS NULL OR x.realm < x.counterpart_realm)
       AND ({_in_realm('coalesce(x.realm, y.counterpart_realm)')}
            OR {_in_realm('coalesce(x.counterpart_realm, y.realm)')})""")


SIGNER_UNKNOWN = "checkpoint_signer_unknown"

# Each checkpoint's key id against the key registry (by id, or by the legacy id of a key
# registered on first start): no registered key, or only acknowledged stray keys.
_CHECKPOINT_SIGNERS = text(f"""
    SELECT c.realm, c.seq AS checkpoint_seq, c.key_id, s.acknowledged_reason
      FROM checkpoints c
      LEFT JOIN LATERAL (
          SELECT bool_or(k.kind = 'signer') AS by_signer, string_agg(k.reason, '; ') AS acknowledged_reason
            FROM signing_keys k
           WHERE k.purpose = '{key_registry.LEDGER}' AND (k.key_id = c.key_id OR k.legacy_kid = c.key_id)
             AND (k.realm IS NULL OR k.realm = c.realm)) s ON true
     WHERE {IN_REALM.format(column='c.realm')} AND s.by_signer IS NOT TRUE
     ORDER BY c.realm, c.seq""")


async def _checkpoint_signers(ctx: AuditContext) -> list[dict[str, Any]]:
    unknown, acknowledged = [], []
    for row in await ctx.conn.execute(_CHECKPOINT_SIGNERS, {"realm": ctx.realm}):
        found = {"realm": row.realm, "checkpoint_seq": row.checkpoint_seq, "key_id": row.key_id}
        if row.acknowledged_reason is None:
            unknown.append({**found, "problem": SIGNER_UNKNOWN})
        else:
            acknowledged.append({**found, "acknowledged": row.acknowledged_reason})
    ctx.notes[SIGNER_UNKNOWN] = acknowledged
    return unknown


register_check(
    SIGNER_UNKNOWN,
    "every checkpoint is signed by a key in the key registry (one registered by an admin as "
    "an acknowledged stray key is listed in the notes)",
    _checkpoint_signers)


async def _checkpoints_verify(ctx: AuditContext) -> list[dict[str, Any]]:
    realms = [ctx.realm] if ctx.realm else await checkpoint_repository.realm_codes(ctx.conn)
    keys = await key_registry.registered_keys(ctx.conn)
    offending: list[dict[str, Any]] = []
    for realm in realms:
        def progress(done: int, total: int, realm: str = realm) -> None:
            ctx.progress(f"checkpoints {realm}: {done}/{total} leaves")

        problems = await checkpoints.verify_realm(ctx.conn, realm, keys, progress)
        offending += [problem.as_json() for problem in problems]
        if len(offending) > OFFENDING_SHOWN_MAX:
            break
    return offending


register_check(
    "checkpoints_verify",
    "every checkpoint's signature (by its key in the key registry), chain and root verify "
    "against the entries as they are now, and every entry committed before the last checkpoint is sealed",
    _checkpoints_verify)
