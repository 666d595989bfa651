"""Realms, accounts and entries."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.auth import roles
from api.errors import problems
from api.routes.common import (PAGING, Caller, IdempotencyKey, ItemsPage, Service, check_resident_scope,
                               decoded, parse_timestamp, replayable, required_idempotency_key, shaped)
from earning.service import Earning
from ledger import errors, model
from ledger.service import Ledger


class RealmIn(msgspec.Struct, forbid_unknown_fields=True):
    code: str
    name: str
    timezone: str = model.DEFAULT_TIMEZONE


class AccountIn(msgspec.Struct, forbid_unknown_fields=True):
    realm: str
    kind: str
    asset: str
    floor: int | None = None
    label: str | None = None
    counterpart_realm: str | None = None


class PostingIn(msgspec.Struct, forbid_unknown_fields=True):
    account_id: int
    amount: int


class EntryIn(msgspec.Struct, forbid_unknown_fields=True):
    realm: str
    postings: list[PostingIn]
    kind: str = "adjustment"
    memo: str | None = None
    reference: str | None = None


class ReversalIn(msgspec.Struct, forbid_unknown_fields=True):
    memo: str | None = None


class Realm(msgspec.Struct):
    code: str          # the 6-digit administrative code
    name: str
    timezone: str      # IANA name; "today" and months are counted in it
    created_at: datetime


class Account(msgspec.Struct):
    id: int
    realm: str
    kind: str          # resident, merchant, budget, funding, hold, settled, clearing
    asset: str
    floor: int | None  # None: unbounded (funding, clearing)
    balance: int
    resident_id: int | None
    merchant_id: int | None
    counterpart_realm: str | None
    label: str | None
    created_at: datetime


class Posting(msgspec.Struct):
    account_id: int
    asset: str
    amount: int         # signed: negative debits the account
    balance_after: int  # the account's running balance after this posting


class Entry(msgspec.Struct):
    id: int
    realm: str
    kind: str
    reverses_entry_id: int | None
    reference: str | None
    memo: str | None
    created_by: str
    created_at: datetime
    postings: list[Posting]


class AccountPosting(msgspec.Struct):
    """One line of an account's history, newest first."""
    account_seq: int    # its place in the account's history, from 1
    entry_id: int
    kind: str           # the entry's kind
    amount: int
    balance_after: int
    created_at: datetime
    memo: str | None
    reference: str | None


class Balance(msgspec.Struct):
    account_id: int
    balance: int
    at: datetime | None   # None: now


ACCOUNT_READ = (errors.AccountNotFound, errors.Forbidden)
ENTRY_POSTED = (
    errors.InsufficientPoints, errors.UnknownAccount, errors.AssetMismatch, errors.EntryUnbalanced,
    errors.TooFewPostings, errors.TooManyPostings, errors.DuplicateAccount, errors.ZeroAmount,
    errors.AmountOutOfRange, errors.PostingNotAllowed, errors.EntryKindNotAllowed, errors.InvalidInput)


async def readable_account(ledger: Ledger, earning: Earning, principal: Caller, account_id: int) -> dict[str, Any]:
    """A resident's account for whoever may see that resident's data; a merchant's for the
    merchant itself; any of its realm for an admin or an auditor."""
    account = await ledger.account(account_id)
    principal.require_realm(account["realm"])
    if account["kind"] == "resident":
        await check_resident_scope(earning, principal, account["realm"], account["resident_id"])
    elif not (principal.role in ("admin", "auditor")
              or (principal.role == "merchant" and account["merchant_id"] == principal.merchant_id)):
        raise errors.Forbidden("this token cannot read that account")
    return account


class RealmController(Controller):
    path = "/v1/realms"
    tags = ["ledger"]

    @post(status_code=201, guards=[roles("admin")],
          responses=problems(errors.InvalidRealm, errors.InvalidInput, errors.RealmExists))
    async def create_realm(self, ledger: Service[Ledger], principal: Caller, data: JSONBody[RealmIn]) -> Realm:
        """Open a realm with its system accounts (an all-realms admin only)."""
        if principal.realm is not None:
            raise errors.Forbidden("only an all-realms admin opens realms")
        return shaped(Realm, await ledger.open_realm(data.code, data.name, data.timezone))

    @get("/{code:str}", responses=problems(errors.RealmNotFound))
    async def read_realm(self, ledger: Service[Ledger], principal: Caller, code: FromPath[str]) -> Realm:
        principal.require_realm(code)
        return shaped(Realm, await ledger.realm(code))


class AccountController(Controller):
    path = "/v1/accounts"
    tags = ["ledger"]

    @post(status_code=201, guards=[roles("admin")],
          responses=problems(errors.InvalidInput, errors.InvalidRealm, errors.UnknownRealm, errors.InvalidFloor,
                             errors.AccountExists))
    async def create_account(self, ledger: Service[Ledger], principal: Caller, data: JSONBody[AccountIn]) -> Account:
        """A system or clearing account (resident and merchant accounts open with their owner)."""
        principal.require_realm(data.realm)
        if data.kind in ("resident", "merchant"):
            raise errors.InvalidInput(f"{data.kind} accounts are opened with their {data.kind}")
        account = await ledger.create_account(data.realm, data.kind, data.asset, data.floor, data.label,
                                              counterpart_realm=data.counterpart_realm)
        return shaped(Account, account)

    @get("/{account_id:int}", responses=problems(ACCOUNT_READ))
    async def read_account(self, ledger: Service[Ledger], earning: Service[Earning], principal: Caller,
                           account_id: FromPath[int]) -> Account:
        return shaped(Account, await readable_account(ledger, earning, principal, account_id))

    @get("/{account_id:int}/postings", responses=problems(ACCOUNT_READ, PAGING))
    async def account_postings(self, ledger: Service[Ledger], earning: Service[Earning], principal: Caller, account_id: FromPath[int],
                               cursor: FromQuery[str | None] = None,
                               limit: FromQuery[int | None] = None) -> ItemsPage[AccountPosting]:
        """The account's postings, newest first."""
        account = await readable_account(ledger, earning, principal, account_id)
        page = await ledger.history(account, cursor, limit)
        return ItemsPage([shaped(AccountPosting, row) for row in page.items], page.next_cursor)

    @get("/{account_id:int}/balance", responses=problems(ACCOUNT_READ, errors.InvalidTimestamp))
    async def account_balance(self, ledger: Service[Ledger], earning: Service[Earning], principal: Caller, account_id: FromPath[int],
                              at: FromQuery[str | None] = None) -> Balance:
        """The balance now, or at a moment (`at`, ISO 8601 with an offset)."""
        account = await readable_account(ledger, earning, principal, account_id)
        if at is None:
            return Balance(account_id, account["balance"], None)
        moment = parse_timestamp(at)
        return Balance(account_id, await ledger.balance_at(account, moment), moment)


class EntryController(Controller):
    path = "/v1/entries"
    tags = ["ledger"]

    @post(status_code=201, guards=[roles("admin")], responses=problems(ENTRY_POSTED))
    async def create_entry(self, ledger: Service[Ledger], principal: Caller, data: JSONBody[EntryIn],
                           idempotency_key: IdempotencyKey = None) -> Response[Entry]:
        """Post a fund or adjustment entry by hand; a replay answers the first entry
        (`Idempotent-Replayed: true`)."""
        principal.require_realm(data.realm)
        key = required_idempotency_key(idempotency_key)
        if data.kind not in model.MANUAL_KINDS:
            raise errors.EntryKindNotAllowed(
                f"by hand an admin posts only {' or '.join(model.MANUAL_KINDS)} entries")
        draft = model.EntryDraft(
            realm=data.realm, kind=data.kind,
            lines=tuple(model.Line(p.account_id, p.amount) for p in data.postings),
            created_by=principal.actor, idempotency_key=key, memo=data.memo,
            reference=data.reference)
        return posted(await ledger.post(draft))

    @post("/{entry_id:int}/reversal", status_code=201, guards=[roles("admin")],
          responses=problems(ENTRY_POSTED, errors.EntryNotFound, errors.EntryNotReversible,
                             errors.EntryAlreadyReversed))
    async def reverse_entry(self, ledger: Service[Ledger], principal: Caller, entry_id: FromPath[int],
                            idempotency_key: IdempotencyKey = None,
                            data: JSONBody[ReversalIn | None] = None) -> Response[Entry]:
        """Post the mirror of a fund, earn or adjustment entry, once."""
        key = required_idempotency_key(idempotency_key)
        original = await ledger.entry(entry_id)
        principal.require_realm(original["realm"])
        return posted(await ledger.reverse(original, principal.actor, key, data.memo if data else None))

    @get("/{entry_id:int}", guards=[roles("admin", "auditor")], responses=problems(errors.EntryNotFound))
    async def read_entry(self, ledger: Service[Ledger], principal: Caller, entry_id: FromPath[int]) -> Entry:
        """An entry with its postings (admins and auditors; others read their accounts)."""
        entry = await ledger.entry(entry_id)
        principal.require_realm(entry["realm"])
        return decoded(Entry, entry)


def posted(result: dict[str, Any]) -> Response[Entry]:
    return replayable(decoded(Entry, result), bool(result.get("replayed")))


ROUTES = [RealmController, AccountController, EntryController]
