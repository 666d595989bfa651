"""What a handler does to an answer once the service returned its row: before the typed
API, a dict body (fields picked into a new dict, or a copy) encoded by Litestar; now a
Struct (`shaped` from a row, `decoded` from the database's JSON) encoded by Litestar.
Measured in process, best of several runs, for the hot read (`GET /v1/accounts/{id}`)
and write (`POST /v1/entries`) answers. No database: the rows are as the service
returns them (an account row's keys are SQLAlchemy's `quoted_name`s; an entry is the
JSON `ledger_entry_json` built)."""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from litestar.serialization import encode_json
from sqlalchemy.sql.elements import quoted_name

from api.routes.common import decoded, shaped
from api.routes.ledger import Account, Entry
from bench.harness import BenchContext, Result

RUNS = 7
ACCOUNT_FIELDS = ("id", "realm", "kind", "asset", "floor", "balance", "resident_id", "merchant_id",
                  "counterpart_realm", "label", "created_at")  # the old `account_body`


def account_row() -> dict[str, Any]:
    row = {"realm": "430104", "id": 12345, "kind": "resident", "asset": "civic", "floor": 0, "balance": 1000,
           "posting_count": 7, "resident_id": 42, "merchant_id": None, "counterpart_realm": None, "label": None,
           "created_at": datetime.now(timezone.utc)}
    return {quoted_name(key, None): value for key, value in row.items()}


def entry_document() -> dict[str, Any]:
    return {"id": 4, "kind": "adjustment", "memo": None, "realm": "430104", "reference": None,
            "created_at": "2026-11-30T14:12:53.598509+00:00", "created_by": "admin:1", "reverses_entry_id": None,
            "postings": [{"asset": "civic", "amount": -5, "account_id": 2, "balance_after": 995},
                         {"asset": "civic", "amount": 5, "account_id": 26, "balance_after": 1005}],
            "replayed": False}


def best(name: str, total: int, answer: Callable[[], bytes]) -> Result:
    seconds = []
    for _ in range(RUNS):
        started = time.perf_counter()
        for _ in range(total):
            answer()
        seconds.append(time.perf_counter() - started)
    return Result(name, total, min(seconds), unit="answers")


async def run(ctx: BenchContext) -> None:
    total = ctx.scale(100_000, 5_000)
    row, entry = account_row(), entry_document()

    def entry_dict() -> bytes:
        body = dict(entry)
        body.pop("replayed", False)
        return encode_json(body)

    assert encode_json({k: row[k] for k in ACCOUNT_FIELDS}) == encode_json(shaped(Account, row))
    ctx.report("answers.account.dict", best("account answer, dict body (before)", total,
                                            lambda: encode_json({k: row[k] for k in ACCOUNT_FIELDS})))
    ctx.report("answers.account.struct", best("account answer, Account Struct", total,
                                              lambda: encode_json(shaped(Account, row))))
    ctx.report("answers.entry.dict", best("entry answer, dict copy (before)", total, entry_dict))
    ctx.report("answers.entry.struct", best("entry answer, Entry Struct (datetime parsed)", total,
                                            lambda: encode_json(decoded(Entry, entry))))
    ctx.ratio("account answers/s, Struct / dict", "answers.account.struct", "answers.account.dict")
    ctx.ratio("entry answers/s, Struct / dict", "answers.entry.struct", "answers.entry.dict")
