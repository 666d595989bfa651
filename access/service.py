"""Access's services: enrolments (create, claim), tokens (create, look up, admit, list,
revoke). Each call owns one database transaction. Who may do what is the routes'
business; here every call checks that what it names exists. (The API caches look-ups
only while it hears every revocation: access/revocations.py.)"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from access import errors, model, repository
from ledger import db
from ledger import paging
from ledger.require import require
from ledger.reads import Reads

SELECTOR_DRAWS_MAX = 8         # a taken selector is drawn again, at most this often
TOKENS_PAGE_DEFAULT = 50
TOKEN_CURSOR = paging.Cursor("t1")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class ClaimRefusal:
    """A refused claim, raised after its failure counts have committed."""
    error: Exception


class Access:
    def __init__(self, engine: AsyncEngine,
                 device_token_lifetime_s: int = model.DEVICE_TOKEN_LIFETIME_S_DEFAULT,
                 clock: Callable[[], datetime] = utc_now, reads: Reads | None = None) -> None:
        self.engine = engine
        self.reads = reads or Reads(engine)
        self.device_token_lifetime_s = device_token_lifetime_s
        self.clock = clock

    # tokens ----------------------------------------------------------------------------

    async def create_token(self, holder: model.Holder, label: str | None = None,
                           check_holder: bool = True) -> tuple[str, dict[str, Any]]:
        """A new token (returned once, stored hashed) and its record. With `check_holder`
        the resident, merchant or station it names must exist in its realm."""
        model.check_holder(holder)
        label = model.check_label(label)
        token = model.new_token()

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            if check_holder:
                await _existing_holder(conn, holder)
            return await repository.insert_token(conn, model.hash_token(token), holder, "api", label, None)

        return token, await db.in_transaction(self.engine, work)

    async def lookup(self, token: str) -> dict[str, Any]:
        """The token's record, revoked or expired or not (`admit` decides)."""
        if not token or len(token) > model.TOKEN_LENGTH_MAX:
            raise errors.TokenUnknown("send Authorization: Bearer <token>")
        found = await repository.token_by_hash(self.reads, model.hash_token(token))
        if found is None:
            raise errors.TokenUnknown("unknown token")
        return found

    async def admit(self, found: dict[str, Any]) -> dict[str, Any]:
        """The record if the token may be used now; a device token in use is renewed (at
        most once a day), and the renewed record returned."""
        if found["revoked_at"] is not None:
            raise errors.TokenRevoked("this token was revoked; sign in again", token_id=found["id"])
        now = self.clock()
        if found["expires_at"] is not None and found["expires_at"] <= now:
            raise errors.TokenExpired("this token has expired; sign in again", token_id=found["id"])
        if found["kind"] == "device" and model.needs_renewal(found["expires_at"], now,
                                                            self.device_token_lifetime_s):
            expires = now + timedelta(seconds=self.device_token_lifetime_s)
            await db.in_one_statement(self.engine, lambda conn: repository.renew_token(
                conn, found["id"], now, expires))
            return {**found, "expires_at": expires, "last_used_at": now}
        return found

    async def authenticate(self, token: str) -> dict[str, Any]:
        """Look up and admit, with no cache."""
        return await self.admit(await self.lookup(token))

    async def token(self, token_id: int) -> dict[str, Any]:
        found = await db.read(self.engine, lambda conn: repository.find_token(conn, token_id))
        if found is None:
            raise errors.TokenNotFound(f"no token {token_id}")
        return found

    async def tokens(self, scope: dict[str, Any], cursor: str | None, limit: int | None) -> dict[str, Any]:
        before = TOKEN_CURSOR.decode(cursor)
        size = paging.check_page_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.tokens_page(conn, scope, before, paging.fetch_size(size)))
        page = paging.page_of(rows, size, TOKEN_CURSOR.after("id"))
        return {"items": page.items, "next_cursor": page.next_cursor}

    async def revoke(self, token_id: int, by: str) -> dict[str, Any]:
        revoked = await db.in_transaction(self.engine, lambda conn: repository.revoke_token(
            conn, token_id, self.clock(), by))
        if revoked is None:
            raise errors.TokenNotFound(f"no token {token_id}")
        return revoked

    # enrolments ------------------------------------------------------------------------

    async def create_enrolment(self, holder: model.Holder, created_by: str, label: str | None = None,
                               lifetime_s: int | None = None) -> dict[str, Any]:
        """A one-time code for `holder` (shown once, stored hashed) and its record."""
        model.check_enrolment_holder(holder)
        label = model.check_label(label)
        expires_at = model.enrolment_expiry(self.clock(), lifetime_s)

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            names = await _existing_holder(conn, holder)
            for _ in range(SELECTOR_DRAWS_MAX):
                code = model.new_code()
                made = await repository.insert_enrolment(
                    conn, holder, model.selector_of(code), model.code_hash(code), label, created_by,
                    expires_at)
                if made is not None:
                    return {**made, **names, "code": model.formatted(code)}
            raise errors.InvalidEnrolment("no free enrolment code was found; try again")

        return await db.in_transaction(self.engine, work)

    async def enrolment(self, enrolment_id: int) -> dict[str, Any]:
        async def work(conn: AsyncConnection) -> dict[str, Any] | None:
            found = await repository.find_enrolment(conn, enrolment_id)
            if found is None:
                return None
            holder = model.Holder(found["role"], found["realm"], found["station_id"],
                                  found["merchant_id"], found["resident_id"])
            return {**found, **(await repository.holder_names(conn, holder) or {})}

        found = await db.read(self.engine, work)
        if found is None:
            raise errors.EnrolmentNotFound(f"no enrolment {enrolment_id}")
        return found

    async def claim(self, typed_code: str, client: str, device_label: str | None = None) -> dict[str, Any]:
        """Trade a code for a device token, once. A wrong code counts against the code
        (the fifth failure locks it) and against the client address; the counts commit
        even though the claim is refused."""
        code = model.normalize_code(typed_code)
        device_label = model.check_label(device_label, model.DEVICE_LABEL_LENGTH_MAX)
        client = client[:100] or "unknown"
        now = self.clock()
        since = now - timedelta(seconds=model.CLAIM_FAILURE_WINDOW_S)
        token = model.new_token()

        async def work(conn: AsyncConnection) -> dict[str, Any] | ClaimRefusal:
            if await repository.client_failures(conn, client, since) >= model.CLAIM_FAILURES_PER_CLIENT_MAX:
                return ClaimRefusal(errors.TooManyAttempts(
                    "too many wrong codes from this address; wait a quarter of an hour"))
            refusal = await _claim_refusal(conn, code, now)
            if refusal is not None:
                await repository.record_client_failure(conn, client, now, since)
                return refusal
            enrolment = await repository.lock_enrolment(conn, model.selector_of(code))
            require(enrolment is not None, "a claimable enrolment is still there")
            holder = model.Holder(enrolment["role"], enrolment["realm"], enrolment["station_id"],
                                  enrolment["merchant_id"], enrolment["resident_id"])
            record = await repository.insert_token(
                conn, model.hash_token(token), holder, "device", device_label or enrolment["label"],
                now + timedelta(seconds=self.device_token_lifetime_s))
            await repository.mark_claimed(conn, enrolment["id"], now, record["id"])
            return {**record, "enrolment_id": enrolment["id"]}

        outcome = await db.in_transaction(self.engine, work)
        if isinstance(outcome, ClaimRefusal):
            raise outcome.error
        return {**outcome, "token": token}


async def _existing_holder(conn: AsyncConnection, holder: model.Holder) -> dict[str, Any]:
    names = await repository.holder_names(conn, holder)
    if names is None:
        raise errors.UnknownHolder(
            "the realm, resident, merchant or station named does not exist there",
            realm=holder.realm, resident_id=holder.resident_id, merchant_id=holder.merchant_id,
            station_id=holder.station_id)
    return names


async def _claim_refusal(conn: AsyncConnection, code: str, now: datetime) -> ClaimRefusal | None:
    """Why this code cannot be claimed now (counting a wrong secret), or None."""
    enrolment = await repository.lock_enrolment(conn, model.selector_of(code))
    if enrolment is None:
        return ClaimRefusal(errors.EnrolmentCodeInvalid("no such enrolment code"))
    if enrolment["failures"] >= model.CLAIM_FAILURES_PER_CODE_MAX:
        return ClaimRefusal(errors.EnrolmentLocked(
            "this code was locked after too many wrong tries; ask for a new card"))
    if bytes(enrolment["code_hash"]) != model.code_hash(code):
        failures = await repository.count_failure(conn, enrolment["id"])
        return ClaimRefusal(errors.EnrolmentCodeInvalid(
            "this code is wrong", tries_left=model.CLAIM_FAILURES_PER_CODE_MAX - failures))
    if enrolment["claimed_at"] is not None:
        return ClaimRefusal(errors.EnrolmentClaimed("this code was already used; ask for a new card"))
    if enrolment["expires_at"] <= now:
        return ClaimRefusal(errors.EnrolmentExpired("this code has expired; ask for a new card"))
    return None
