"""Vouchers: issue (hold), redeem (capture), cancel and expire (release), offline upload.

Each call owns one database transaction: the voucher row, its state change and its
ledger entry commit together (`db.in_transaction` + `Ledger.post_in`). Postings:
issue = `hold` (resident -> hold); capture = `capture` (hold -> merchant, the rest of a
partial capture hold -> resident); cancel and expiry = `release` (hold -> resident).
Cross-realm (voucher of realm A, merchant of realm B): `capture` in A (hold -> clearing
account for B, the rest -> resident) and `clear` in B (clearing account for A ->
merchant), in the same transaction. Entries carry `voucher:<serial hex>` as reference.

Signing keys: `ledger.keys.KeyRing`, purpose "voucher". We keep them as files under
<data_dir>/keys (or $POINTSBANK_KEY_DIR): the private key `<kid>.key` (PKCS#8, mode
0600, made on first use) beside `<kid>.json` (public key, created and retired times).
Chosen over "in the database, encrypted with a key from the environment" because a
database dump or replica then carries no signing secret, and backing the directory up is
one copy. `pointsbank keys rotate` retires the active key; a retired key still verifies,
and stays published, for `model.KEY_GRACE_S` (the longest voucher lifetime), after which
vouchers naming it are refused with `voucher_key_retired`. A running `serve` keeps
signing with the key it loaded until restarted (its vouchers remain valid).
"""
from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger import db, errors as ledger_errors, repository as ledger_repository
from ledger.group_commit import QUEUE_DEPTH_MAX, GroupCommit
from ledger.cache import BoundedCache
from ledger.keys import KeyRing
from ledger import idempotency, paging
from ledger.model import EntryDraft, Line
from ledger.require import require
from ledger.paging import Page
from ledger.service import Ledger
from redemption import codec, errors, model, repository

EXPIRE_BATCH_SIZE = 200
MERCHANT_ACCOUNTS_CACHED_MAX = 10_000
KEY_SIGN_ATTEMPTS_MAX = 3

log = logging.getLogger(__name__)

db.CONSTRAINT_ERRORS.setdefault("vouchers_idempotency_key", errors.VoucherKeyRaced)
db.CONSTRAINT_ERRORS.setdefault("redemptions_idempotency_key", errors.VoucherKeyRaced)
db.CONSTRAINT_ERRORS.setdefault("redemptions_voucher_once", errors.VoucherAlreadyRedeemed)
# A capture of more than the row holds: the code claimed a larger amount than was issued.
db.CONSTRAINT_ERRORS.setdefault("vouchers_captured", errors.VoucherCodeMismatch)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


class Vouchers:
    def __init__(self, engine: AsyncEngine, ledger: Ledger, keys: KeyRing,
                 clock: Callable[[], datetime] = now_utc, capture_writers: int = 0,
                 capture_queue_max: int = QUEUE_DEPTH_MAX) -> None:
        """`capture_writers` > 0 folds concurrent same-realm captures, and concurrent issues,
        into group commits (each with its own writers, at most `capture_queue_max` waiting)."""
        self.engine = engine
        self.ledger = ledger
        self.keys = keys
        self.clock = clock
        self._capture_commit = (GroupCommit(engine, "voucher_capture_batch", capture_writers,
                                            queue_depth_max=capture_queue_max)
                                if capture_writers > 0 else None)
        self._issue_commit = (GroupCommit(engine, "voucher_issue_batch", capture_writers,
                                          queue_depth_max=capture_queue_max)
                              if capture_writers > 0 else None)
        # (realm, merchant, asset) -> its merchant account: never changes once opened
        self._merchant_accounts: BoundedCache[tuple[str, int, str], int] = BoundedCache(MERCHANT_ACCOUNTS_CACHED_MAX)

    async def close(self) -> None:
        for group in (self._capture_commit, self._issue_commit):
            if group is not None:
                await group.close()

    # policy ------------------------------------------------------------------------------

    async def policy(self, realm: str) -> model.Policy:
        row = await db.read(self.engine, lambda conn: repository.find_policy(conn, realm))
        return policy_of(row)

    async def set_policy(self, realm: str, lifetime_days: int, outstanding_max: int) -> model.Policy:
        policy = model.check_policy(lifetime_days, outstanding_max)
        await self.ledger.realm(realm)
        await db.in_transaction(self.engine, lambda conn: repository.save_policy(
            conn, realm, policy.lifetime_days, policy.outstanding_max))
        return policy

    # issue -------------------------------------------------------------------------------

    async def issue(self, realm: str, resident_id: int, asset: str, amount: int,
                    merchant: model.Merchant | None, merchant_kind: str | None,
                    idempotency_key: str, actor: str) -> dict[str, Any]:
        """Hold `amount` of the resident's `asset` for a new signed voucher."""
        model.check_amount(amount)
        model.check_scope(asset, merchant, merchant_kind)
        idempotency.check_key(idempotency_key)
        fingerprint = self.issue_fingerprint(resident_id, asset, amount, merchant, merchant_kind)
        if self._issue_commit is not None:
            return await idempotency.once(lambda: self._group_issue(
                realm, resident_id, asset, amount, merchant, merchant_kind, idempotency_key, fingerprint, actor),
                errors.VoucherKeyRaced)

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            replay = await self._issue_replay(conn, realm, idempotency_key, fingerprint)
            if replay is not None:
                return replay
            return await self._issue_in(conn, realm, resident_id, asset, amount, merchant,
                                        merchant_kind, idempotency_key, fingerprint, actor)

        return await idempotency.once(lambda: db.in_transaction(self.engine, work), errors.VoucherKeyRaced)

    @staticmethod
    def issue_fingerprint(resident_id: int, asset: str, amount: int, merchant: model.Merchant | None,
                          merchant_kind: str | None, purpose: str | None = None) -> bytes:
        """The request hash of an issue; `purpose` (e.g. a catalogue item) joins it when given."""
        fields: dict[str, object] = dict(op="issue", resident_id=resident_id, asset=asset, amount=amount,
                                         merchant_id=merchant.id if merchant else None,
                                         merchant_kind=merchant_kind)
        if purpose is not None:
            fields["purpose"] = purpose
        return model.request_hash(**fields)

    async def issue_replay_in(self, conn: AsyncConnection, realm: str, key: str,
                              fingerprint: bytes) -> dict[str, Any] | None:
        """The voucher an earlier issue with this key made (flagged `replayed`), or None."""
        return await self._issue_replay(conn, realm, key, fingerprint)

    async def issue_in(self, conn: AsyncConnection, realm: str, resident_id: int, asset: str, amount: int,
                       merchant: model.Merchant | None, merchant_kind: str | None, idempotency_key: str,
                       actor: str, purpose: str | None = None) -> dict[str, Any]:
        """`issue` inside the caller's transaction, for a composite operation (a catalogue
        reservation and its voucher commit or fail together). A concurrent twin with the
        same key makes the caller's transaction fail with VoucherKeyRaced: retry it."""
        model.check_amount(amount)
        model.check_scope(asset, merchant, merchant_kind)
        idempotency.check_key(idempotency_key)
        fingerprint = self.issue_fingerprint(resident_id, asset, amount, merchant, merchant_kind, purpose)
        replay = await self._issue_replay(conn, realm, idempotency_key, fingerprint)
        if replay is not None:
            return replay
        return await self._issue_in(conn, realm, resident_id, asset, amount, merchant,
                                    merchant_kind, idempotency_key, fingerprint, actor)

    async def _issue_replay(self, conn: AsyncConnection, realm: str, key: str,
                            fingerprint: bytes) -> dict[str, Any] | None:
        found = await repository.find_by_key(conn, realm, key)
        return idempotency.replay(found, fingerprint, "another voucher", "voucher_id")

    async def _issue_in(self, conn: AsyncConnection, realm: str, resident_id: int, asset: str,
                        amount: int, merchant: model.Merchant | None, merchant_kind: str | None,
                        key: str, fingerprint: bytes, actor: str) -> dict[str, Any]:
        realm_row = await ledger_repository.find_realm(conn, realm)
        if realm_row is None:
            raise ledger_errors.UnknownRealm(f"no realm {realm}")
        policy = policy_of(await repository.find_policy(conn, realm))
        # The outstanding-voucher limit is the database's (`vouchers_admit`, under a lock
        # per resident): the insert below answers `voucher_limit_reached`.
        wallet = await ledger_repository.find_owned_account(conn, realm, "resident", asset, resident_id=resident_id)
        if wallet is None or wallet["balance"] < amount:
            raise insufficient(asset, wallet["balance"] if wallet else 0, amount)
        hold = await ledger_repository.find_system_account(conn, realm, "hold", asset)
        require(hold is not None, f"realm {realm} has no hold {asset} account")
        row = self._new_voucher(realm, resident_id, asset, amount, merchant, merchant_kind, key, fingerprint,
                                actor, policy, realm_row["timezone"], wallet["id"], hold["id"])
        draft = EntryDraft(
            realm=realm, kind="hold", created_by=actor, reference=model.reference(row["serial"]),
            memo="voucher issued", lines=(Line(wallet["id"], -amount), Line(hold["id"], amount)))
        voucher, _ = await self.ledger.post_in_then_insert(conn, draft, repository.vouchers, "hold_entry_id", **row)
        return idempotency.fresh(voucher)

    async def _group_issue(self, realm: str, resident_id: int, asset: str, amount: int,
                           merchant: model.Merchant | None, merchant_kind: str | None, key: str,
                           fingerprint: bytes, actor: str) -> dict[str, Any]:
        """`issue` through the group commit: one read (what `_issue_in` reads, and whether
        the key made a voucher), the same checks and signing, then `voucher_issue` in SQL
        posts the hold entry and inserts the voucher in a writer's batch. A twin under the
        same key in flight meanwhile makes the insert fail with VoucherKeyRaced (`once`
        then reads its voucher and replays it)."""
        facts = await repository.issue_facts(self.ledger.reads, realm, resident_id, asset, key)
        if facts["replay_id"] is not None:
            replay = await db.read(self.engine, lambda conn: self._issue_replay(conn, realm, key, fingerprint))
            require(replay is not None, "a voucher under this key was found, then not")
            return replay  # type: ignore[return-value]
        if facts["timezone"] is None:
            raise ledger_errors.UnknownRealm(f"no realm {realm}")
        if facts["wallet_id"] is None or facts["wallet_balance"] < amount:
            raise insufficient(asset, facts["wallet_balance"] or 0, amount)
        require(facts["hold_account_id"] is not None, f"realm {realm} has no hold {asset} account")
        policy = policy_of(facts if facts["lifetime_days"] is not None else None)
        row = self._new_voucher(realm, resident_id, asset, amount, merchant, merchant_kind, key, fingerprint,
                                actor, policy, facts["timezone"], facts["wallet_id"], facts["hold_account_id"])
        try:
            result = await self._issue_commit.submit({  # type: ignore[union-attr]
                **row, "serial": row["serial"].hex(), "request_hash": fingerprint.hex(),
                "expires_at": row["expires_at"].isoformat()})
        except ledger_errors.InsufficientPoints as refused:  # spent meanwhile: the floor said no
            raise insufficient(asset, refused.context.get("balance", 0), amount) from None
        return idempotency.fresh(voucher_from_json(result))

    def _new_voucher(self, realm: str, resident_id: int, asset: str, amount: int, merchant: model.Merchant | None,
                     merchant_kind: str | None, key: str, fingerprint: bytes, actor: str, policy: model.Policy,
                     timezone_name: str, wallet_id: int, hold_account_id: int) -> dict[str, Any]:
        """The columns of a new voucher (all but its hold entry): a fresh serial and short
        code, the expiry by the policy in the realm's time zone, the code signed."""
        expires_at = model.expiry(self.clock(), policy.lifetime_days, timezone_name)
        token = self._signed(codec.Token(
            key_id=0, serial=secrets.token_bytes(codec.SERIAL_BYTES), realm=realm, asset=asset,
            amount=amount, scope_merchant_id=merchant.id if merchant else None,
            scope_merchant_kind=merchant_kind, expires_at=int(expires_at.timestamp())))
        return dict(
            realm=realm, serial=token.serial, short_code=codec.short_code(secrets.token_bytes(codec.SHORT_CODE_SEED_BYTES)),
            code=codec.encode(token), key_id=token.key_id, resident_id=resident_id,
            resident_account_id=wallet_id, hold_account_id=hold_account_id, asset=asset, amount=amount,
            scope_merchant_id=token.scope_merchant_id, scope_merchant_kind=merchant_kind,
            expires_at=expires_at, idempotency_key=key, request_hash=fingerprint, created_by=actor)

    def _signed(self, token: codec.Token) -> codec.Token:
        """The token signed by the active voucher key (whose id is inside what is signed)."""
        for _ in range(KEY_SIGN_ATTEMPTS_MAX):
            kid = self.keys.active("voucher").kid
            candidate = replace(token, key_id=kid)
            signed_by, signature = self.keys.sign("voucher", candidate.body())
            if signed_by == kid:  # not rotated in between
                return replace(candidate, signature=signature)
        raise ledger_errors.Unavailable("the voucher key is being rotated; retry")

    # redeem ------------------------------------------------------------------------------

    def read_code(self, code: str) -> codec.Token:
        """Decode and verify a code: a genuine token, or a VoucherCodeError."""
        token = codec.decode(code)
        return model.verify(token, self.keys.public_key(token.key_id), self.clock())

    async def code_for_short_code(self, typed: str) -> str:
        """The code of the voucher a typed short code names; a code issued before the GF(32)
        check is looked up under the old check, and a miss there is reported as the typo."""
        typo: errors.ShortCodeInvalid | None = None
        try:
            stored: str | None = codec.parse_short_code(typed)
        except errors.ShortCodeInvalid as refused:
            stored, typo = codec.parse_legacy_short_code(typed), refused
            if stored is None:
                raise
        rows = await db.read(self.engine, lambda conn: repository.find_by_short_code(conn, stored))
        if not rows and typo is not None:
            raise typo
        if len(rows) != 1:
            raise errors.VoucherNotFound("no voucher has this short code" if not rows
                                         else "this short code is ambiguous: scan the QR code")
        return rows[0]["code"]

    async def by_serials(self, realm: str, serials: list[bytes]) -> dict[bytes, dict[str, Any]]:
        """serial -> voucher (with `redeemed_by`, the merchant id), for a resident's history."""
        if not serials:
            return {}
        rows = await db.read(self.engine, lambda conn: repository.vouchers_with_redeemer(conn, realm, serials))
        return {row["serial"]: row for row in rows}

    async def preview(self, merchant: model.Merchant, code: str) -> tuple[dict[str, Any], str | None]:
        """What a merchant sees before taking points (nothing moves): the voucher, and the
        code of the refusal a redemption here and now would meet (None: it would pass)."""
        token = self.read_code(code)
        voucher = await db.read(self.engine, lambda conn: repository.find_by_serial(conn, token.realm, token.serial))
        if voucher is None:
            raise model.refusal_for(None)
        try:
            model.check_redeemable(token, merchant, None, self.clock())
            if voucher["status"] != "issued":
                raise model.refusal_for(voucher)
        except ledger_errors.DomainError as refusal:
            return voucher, refusal.code
        return voucher, None

    async def redeem(self, merchant: model.Merchant, code: str, amount: int | None,
                     idempotency_key: str, actor: str, offline: bool = False) -> dict[str, Any]:
        """Capture a voucher for `merchant`, once. A replayed key answers the first result,
        even if the voucher has expired or the merchant was suspended since."""
        idempotency.check_key(idempotency_key)
        token = self.read_code(code)
        fingerprint = model.request_hash(op="redeem", serial=token.serial.hex(), amount=amount)
        try:
            return await self._capture(merchant, token, amount, idempotency_key, fingerprint, actor, offline)
        except ledger_errors.DomainError as refusal:
            # No replay look-up before the capture (one round trip less on the hot path): a
            # replay finds the voucher closed or its key taken, and is answered here.
            replay = await db.read(self.engine, lambda conn: self._redeem_replay(
                conn, token.realm, merchant.id, idempotency_key, fingerprint))
            if replay is not None:
                return replay
            if isinstance(refusal, errors.VoucherKeyRaced):
                raise errors.VoucherAlreadyRedeemed("this voucher has already been redeemed") from None
            raise

    async def _capture(self, merchant: model.Merchant, token: codec.Token, amount: int | None,
                       idempotency_key: str, fingerprint: bytes, actor: str,
                       offline: bool) -> dict[str, Any]:
        capture = model.check_redeemable(token, merchant, amount, self.clock())
        if offline:
            model.check_offline(token, merchant)
        merchant_account = await self._merchant_account(merchant, token.asset)
        if self._capture_commit is not None and merchant.realm == token.realm:
            return await self._group_capture(merchant, token, capture, idempotency_key, fingerprint,
                                             actor, offline, merchant_account)
        clearing = None
        if merchant.realm != token.realm:
            clearing = (await self._clearing(token.realm, merchant.realm, token.asset),
                        await self._clearing(merchant.realm, token.realm, token.asset))

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            voucher = await self._close(conn, token, model.capture_status(token.amount, capture), capture)
            draft, clear_draft = await self._capture_drafts(conn, voucher, capture, merchant,
                                                            merchant_account, clearing, actor)
            clear_entry_id = None
            if clear_draft is not None:
                clear_entry_id = (await self.ledger.post_in(conn, clear_draft))["id"]
            redemption, _ = await self.ledger.post_in_then_insert(
                conn, draft, repository.redemptions, "entry_id",
                realm=token.realm, voucher_id=voucher["id"], merchant_id=merchant.id,
                merchant_realm=merchant.realm, amount=capture, clear_entry_id=clear_entry_id,
                offline=offline, idempotency_key=idempotency_key, request_hash=fingerprint,
                created_by=actor)
            return idempotency.fresh(redemption)

        return await db.in_transaction(self.engine, work)

    async def _group_capture(self, merchant: model.Merchant, token: codec.Token, capture: int,
                             idempotency_key: str, fingerprint: bytes, actor: str, offline: bool,
                             merchant_account: int) -> dict[str, Any]:
        """The same capture through the group commit, in one round trip: `voucher_capture`
        in SQL does the guarded state change, checks the row against the signed code,
        posts the capture entry from the row's accounts and writes the redemption."""
        result = await self._capture_commit.submit({  # type: ignore[union-attr]
            "realm": token.realm, "serial": token.serial.hex(), "amount": token.amount,
            "asset": token.asset, "captured": capture, "merchant_account_id": merchant_account,
            "merchant_id": merchant.id, "merchant_realm": merchant.realm,
            "idempotency_key": idempotency_key, "request_hash": fingerprint.hex(),
            "offline": offline, "created_by": actor})
        return idempotency.fresh({**result, "created_at": datetime.fromisoformat(result["created_at"])})

    async def _redeem_replay(self, conn: AsyncConnection, realm: str, merchant_id: int, key: str,
                             fingerprint: bytes) -> dict[str, Any] | None:
        found = await repository.find_redemption(conn, realm, merchant_id, key)
        return idempotency.replay(found, fingerprint, "another redemption", "redemption_id")

    async def _close(self, conn: AsyncConnection, token: codec.Token, status: str,
                     captured: int | None = None) -> dict[str, Any]:
        """The voucher moved out of `issued`, or the error saying why it cannot be."""
        closed = await repository.close_voucher(conn, token.realm, token.serial, status, captured)
        if closed is not None:
            if (closed["amount"], closed["asset"]) != (token.amount, token.asset):
                raise errors.VoucherCodeMismatch("this code is not the voucher issued under its serial")
            return closed
        current = await repository.find_by_serial(conn, token.realm, token.serial)
        raise model.refusal_for(current)

    async def _capture_drafts(self, conn: AsyncConnection | None, voucher: dict[str, Any], capture: int,
                              merchant: model.Merchant, merchant_account: int,
                              clearing: tuple[int, int] | None,
                              actor: str) -> tuple[EntryDraft, EntryDraft | None]:
        """The checked `capture` entry, and for a merchant of another realm the `clear`
        entry there."""
        realm, reference = voucher["realm"], model.reference(voucher["serial"])
        receiver = merchant_account if clearing is None else clearing[0]
        capture_draft = await self.ledger.prepare(conn, EntryDraft(
            realm=realm, kind="capture", created_by=actor, reference=reference,
            memo="voucher redeemed", lines=model.capture_lines(voucher, receiver, capture)))
        if clearing is None:
            return capture_draft, None
        clear_draft = EntryDraft(
            realm=merchant.realm, kind="clear", created_by=actor, reference=reference,
            memo=f"voucher of realm {realm} redeemed",
            lines=(Line(clearing[1], -capture), Line(merchant_account, capture)))
        return capture_draft, clear_draft

    async def _merchant_account(self, merchant: model.Merchant, asset: str) -> int:
        async def load() -> int:
            try:
                account = await self.ledger.owned_account(merchant.realm, "merchant", asset, merchant_id=merchant.id)
            except ledger_errors.AccountNotFound:
                raise errors.VoucherKindMismatch(f"merchant {merchant.id} takes no {asset} points") from None
            return account["id"]

        return await self._merchant_accounts.get_or_load((merchant.realm, merchant.id, asset), load)

    async def _clearing(self, realm: str, counterpart: str, asset: str) -> int:
        """The clearing account in `realm` for `counterpart`, opened on first use (no floor)."""
        found = await db.read(self.engine, lambda conn: repository.find_clearing(conn, realm, counterpart, asset))
        if found is not None:
            return found
        try:
            account = await self.ledger.create_account(realm, "clearing", asset, None,
                                                       f"clearing for {counterpart}", counterpart_realm=counterpart)
            return account["id"]
        except ledger_errors.AccountExists:  # opened meanwhile by a concurrent redemption
            found = await db.read(self.engine, lambda conn: repository.find_clearing(conn, realm, counterpart, asset))
            require(found is not None, "a clearing account exists but cannot be found")
            return found

    async def redeem_batch(self, merchant: model.Merchant, items: list[tuple[str, int | None]],
                           actor: str) -> list[dict[str, Any]]:
        """Offline upload: one result per item; an item's key is its voucher serial, so a
        duplicate (in this batch or an earlier one) answers the first capture again."""
        if len(items) > model.BATCH_ITEMS_MAX:
            raise errors.BatchTooLarge(f"at most {model.BATCH_ITEMS_MAX} items per upload")
        results = []
        for code, amount in items:
            try:
                serial = codec.decode(code).serial.hex()
                result = await self.redeem(merchant, code, amount, f"offline:{serial}", actor, offline=True)
                results.append({"status": "captured", **redemption_body(result), "replayed": result["replayed"]})
            except ledger_errors.IdempotencyKeyReused:
                results.append(item_error(errors.VoucherAlreadyRedeemed(
                    "this voucher was uploaded before with another amount")))
            except ledger_errors.DomainError as exc:
                results.append(item_error(exc))
        return results

    # cancel and expire -------------------------------------------------------------------

    async def cancel(self, voucher: dict[str, Any], actor: str) -> dict[str, Any]:
        """Release an unredeemed voucher to its resident. Cancelling again answers the same."""
        token = codec.decode(voucher["code"])

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            try:
                closed = await self._close(conn, token, "cancelled")
            except errors.VoucherCancelled:
                return idempotency.replayed(await repository.find_by_serial(conn, token.realm, token.serial))
            await self._post_release(conn, closed, actor, "voucher cancelled")
            return idempotency.fresh(closed)

        return await db.in_transaction(self.engine, work)

    async def _post_release(self, conn: AsyncConnection, voucher: dict[str, Any], actor: str, memo: str) -> int:
        entry = await self.ledger.post_in(conn, EntryDraft(
            realm=voucher["realm"], kind="release", created_by=actor, memo=memo,
            reference=model.reference(voucher["serial"]),
            lines=(Line(voucher["hold_account_id"], -voucher["amount"]),
                   Line(voucher["resident_account_id"], voucher["amount"]))))
        return entry["id"]

    async def expire_due(self, progress: Callable[[int, int], None] | None = None,
                         batch_size: int = EXPIRE_BATCH_SIZE) -> int:
        """Release every issued voucher past its expiry; returns how many. Each voucher in
        its own transaction, so a redemption racing it either wins or finds it expired."""
        total = await db.read(self.engine, repository.count_due)
        released = 0
        while True:
            due = await db.read(self.engine, lambda conn: repository.due_vouchers(conn, batch_size))
            if not due:
                return released
            for realm, serial in due:
                released += await self._expire_one(realm, serial)
                if progress is not None:
                    progress(released, max(total, released))

    async def _expire_one(self, realm: str, serial: bytes) -> int:
        async def work(conn: AsyncConnection) -> int:
            closed = await repository.close_voucher(conn, realm, serial, "expired")
            if closed is None:  # redeemed or cancelled meanwhile
                return 0
            await self._post_release(conn, closed, "system:expiry", "voucher expired")
            return 1

        return await db.in_transaction(self.engine, work)

    # reading -----------------------------------------------------------------------------

    async def get(self, voucher_id: int) -> dict[str, Any]:
        found = await db.read(self.engine, lambda conn: repository.find_voucher(conn, voucher_id))
        if found is None:
            raise errors.VoucherNotFound(f"no voucher {voucher_id}", voucher_id=voucher_id)
        return found

    async def page(self, realm: str, resident_id: int | None, status: str | None,
                   cursor: str | None, limit: int | None) -> Page:
        if status is not None and status not in model.STATUSES:
            raise ledger_errors.InvalidInput(f"status is one of {', '.join(model.STATUSES)}")
        before_id = model.decode_cursor(cursor)
        size = paging.check_page_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.vouchers_page(
            conn, realm, resident_id, status, before_id, paging.fetch_size(size)))
        return paging.page_of(rows, size, model.CURSOR.after("id"))

    async def hold_differences(self, realm: str | None = None) -> list[dict[str, Any]]:
        return await db.read(self.engine, lambda conn: repository.hold_differences(conn, realm))


def policy_of(row: Mapping[str, Any] | None) -> model.Policy:
    """A realm's voucher policy from its row (`lifetime_days`, `outstanding_max`); None: the defaults."""
    return model.Policy(row["lifetime_days"], row["outstanding_max"]) if row else model.Policy()


def insufficient(asset: str, balance: int, amount: int) -> ledger_errors.InsufficientPoints:
    return ledger_errors.InsufficientPoints(f"the resident has {balance} {asset} points",
                                            balance=balance, amount=amount)


VOUCHER_TIMES = ("expires_at", "created_at", "closed_at")


def voucher_from_json(result: Mapping[str, Any]) -> dict[str, Any]:
    """A voucher row as `voucher_issue` answers it (bytea in hex, times in ISO text), typed
    as a row read by SQLAlchemy."""
    return {**result, "serial": bytes.fromhex(result["serial"]),
            "request_hash": bytes.fromhex(result["request_hash"]),
            **{name: datetime.fromisoformat(result[name]) if result[name] is not None else None
               for name in VOUCHER_TIMES}}


def redemption_body(result: dict[str, Any]) -> dict[str, Any]:
    return {"id": result["id"], "voucher_id": result["voucher_id"], "amount": result["amount"],
            "entry_id": result["entry_id"], "clear_entry_id": result["clear_entry_id"],
            "merchant_id": result["merchant_id"], "realm": result["realm"],
            "offline": result["offline"], "created_at": result["created_at"]}


def item_error(exc: ledger_errors.DomainError) -> dict[str, Any]:
    return {"status": "refused", "code": exc.code, "detail": exc.detail}
