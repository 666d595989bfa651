"""Merchants: the registry (create, opening the merchant's ledger accounts in the same
transaction; read, list, change status), the rewards catalogue, settlement and the
merchant's view. One transaction per call (or the caller's, for `..._in`)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger import db, errors as ledger_errors, repository as ledger_repository
from ledger.cache import BoundedCache
from ledger.keys import KeyRing
from ledger import idempotency, paging
from ledger.model import EntryDraft, Line, check_realm_code
from ledger.require import require
from ledger.paging import Page
from ledger.service import Ledger
from ledger.reads import Reads
from merchants import errors, model, repository


MERCHANT_CACHE_TTL_S = 5.0  # how stale a cached merchant may be for an early check
MERCHANT_CACHE_SIZE_MAX = 10_000


class Merchants:
    def __init__(self, engine: AsyncEngine, ledger: Ledger, reads: Reads | None = None) -> None:
        self.engine = engine
        self.ledger = ledger
        self.reads = reads or Reads(engine)
        self._recent: BoundedCache[int, dict[str, Any]] = BoundedCache(MERCHANT_CACHE_SIZE_MAX, MERCHANT_CACHE_TTL_S)

    async def create(self, realm: str, kind: str, name: str, contact: str | None = None,
                     station_id: int | None = None) -> dict[str, Any]:
        """A merchant with its merchant accounts: civic for every kind, agri for agri shops."""
        check_realm_code(realm)
        model.check_new(kind, name, contact)

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            merchant = await repository.insert_merchant(
                conn, realm=realm, kind=kind, name=name.strip(), contact=contact,
                station_id=station_id)
            accounts = {}
            for asset in model.ASSETS_BY_KIND[kind]:
                account = await self.ledger.create_account_in(
                    conn, realm, "merchant", asset, label=merchant["name"][:200],
                    merchant_id=merchant["id"])
                accounts[asset] = account["id"]
            return {**merchant, "accounts": accounts}

        return await db.in_transaction(self.engine, work)

    async def get(self, merchant_id: int) -> dict[str, Any]:
        found = await repository.merchant_by_id(self.reads, merchant_id)
        if found is None:
            raise errors.MerchantNotFound(f"no merchant {merchant_id}", merchant_id=merchant_id)
        return found

    async def names(self, merchant_ids: list[int]) -> dict[int, str]:
        if not merchant_ids:
            return {}
        return await db.read(self.engine, lambda conn: repository.merchant_names(conn, sorted(set(merchant_ids))))

    async def get_recent(self, merchant_id: int) -> dict[str, Any]:
        """The merchant as read at most `MERCHANT_CACHE_TTL_S` ago, for hot paths whose
        decisive check is in the database (a redemption refuses an inactive merchant in
        SQL); its realm and kind never change. A status change in this process drops it."""
        return await self._recent.get_or_load(merchant_id, lambda: self.get(merchant_id))

    async def find_by_name(self, realm: str, name: str) -> dict[str, Any] | None:
        return await db.read(self.engine, lambda conn: repository.find_by_name(conn, realm, name))

    async def set_status(self, merchant_id: int, status: str) -> dict[str, Any]:
        async def work(conn: AsyncConnection) -> dict[str, Any]:
            found = await repository.find_merchant(conn, merchant_id, for_update=True)
            if found is None:
                raise errors.MerchantNotFound(f"no merchant {merchant_id}", merchant_id=merchant_id)
            model.check_transition(found["status"], status)
            self._recent.drop(merchant_id)
            if found["status"] == status:
                return found
            return await repository.set_status(conn, found["realm"], merchant_id, status)

        changed = await db.in_transaction(self.engine, work)
        self._recent.drop(merchant_id)  # again once committed: a read meanwhile saw the old status
        return changed

    async def page(self, realm: str, cursor: str | None, limit: int | None,
                   kind: str | None = None, status: str | None = None) -> Page:
        check_realm_code(realm)
        if kind is not None and kind not in model.KINDS:
            raise errors.InvalidMerchantKind(f"kind is one of {', '.join(model.KINDS)}")
        if status is not None and status not in model.STATUSES:
            raise errors.InvalidMerchantStatus(f"status is one of {', '.join(model.STATUSES)}")
        after_id = model.decode_cursor(cursor)
        size = paging.check_page_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.merchants_page(
            conn, realm, after_id, paging.fetch_size(size), kind, status))
        return paging.page_of(rows, size, model.CURSOR.after("id"))




db.CONSTRAINT_ERRORS.setdefault("settlement_requests_pkey", errors.SettlementRaced)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


class Catalogue:
    """Rewards catalogue: items per merchant, stock taken per voucher. The voucher itself is
    issued by redemption; the api layer runs both in one transaction (`reserve_in`, then
    the voucher, then `link_in`), and the database returns the stock when that voucher is
    cancelled or expires (trigger `vouchers_return_stock`, same transaction as the release)."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime] = now_utc) -> None:
        self.engine = engine
        self.clock = clock

    async def create_item(self, merchant_id: int, name: str, price: int, asset: str = "civic",
                          stock: int | None = None, description: str | None = None,
                          active_from: datetime | None = None,
                          active_until: datetime | None = None) -> dict[str, Any]:
        async def work(conn: AsyncConnection) -> dict[str, Any]:
            merchant = await repository.find_merchant(conn, merchant_id)
            if merchant is None:
                raise errors.MerchantNotFound(f"no merchant {merchant_id}", merchant_id=merchant_id)
            if merchant["status"] == "closed":
                raise errors.MerchantClosed("a closed merchant offers nothing")
            model.check_item(merchant["kind"], name, description, price, asset, stock, active_from, active_until)
            return await repository.insert_item(
                conn, realm=merchant["realm"], merchant_id=merchant_id, name=name.strip(),
                description=description, price=price, asset=asset, stock=stock,
                active_from=active_from, active_until=active_until)

        return await db.in_transaction(self.engine, work)

    async def item(self, item_id: int) -> dict[str, Any]:
        found = await db.read(self.engine, lambda conn: repository.find_item(conn, item_id))
        if found is None:
            raise errors.CatalogueItemNotFound(f"no catalogue item {item_id}", item_id=item_id)
        return found

    async def change_item(self, item_id: int, restock: int | None, active: bool | None) -> dict[str, Any]:
        model.check_item_change(restock, active)
        item = await self.item(item_id)
        if restock is not None and item["stock"] is None:
            raise errors.InvalidCatalogueItem("this item's stock is unlimited")
        changed = await db.in_transaction(self.engine, lambda conn: repository.change_item(
            conn, item["realm"], item_id, restock, active))
        require(changed is not None, f"catalogue item {item_id} vanished")
        return changed  # type: ignore[return-value]

    async def page(self, realm: str, merchant_id: int | None, cursor: str | None, limit: int | None) -> Page:
        after_id = model.decode_cursor(cursor)
        size = paging.check_page_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.items_page(
            conn, realm, merchant_id, after_id, paging.fetch_size(size)))
        return paging.page_of(rows, size, model.CURSOR.after("id"))

    async def rewards(self, realm: str, kind: str | None, station: int | None, cursor: str | None,
                      limit: int | None) -> Page:
        """What a resident can get now: offered items of active merchants with stock left,
        those of the caller's station first, then the others (each by item id)."""
        check_realm_code(realm)
        if kind is not None and kind not in model.KINDS:
            raise errors.InvalidMerchantKind(f"kind is one of {', '.join(model.KINDS)}")
        after = model.decode_rank_cursor(cursor)
        size = paging.check_page_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.rewards_page(
            conn, realm, kind, station, after, paging.fetch_size(size)))
        return paging.page_of(rows, size, lambda row: model.encode_rank_cursor(row["rank"], row["id"]))

    # inside a composite transaction (the api's catalogue redemption) ---------------------

    async def reserve_in(self, conn: AsyncConnection, item_id: int) -> dict[str, Any]:
        """Take one of the item's stock in the caller's transaction, or say why not."""
        item = await repository.find_item(conn, item_id)
        if item is None:
            raise errors.CatalogueItemNotFound(f"no catalogue item {item_id}", item_id=item_id)
        merchant = await repository.find_merchant(conn, item["merchant_id"])
        require(merchant is not None, f"catalogue item {item_id} names no merchant")
        refusal = model.availability_refusal(item, merchant["status"], self.clock())  # type: ignore[index]
        if refusal is not None:
            raise refusal
        taken = await repository.take_one(conn, item["realm"], item_id)
        if taken is None:  # others took the last ones, or it closed meanwhile
            latest = await repository.find_item(conn, item_id)
            raise (model.availability_refusal(latest, merchant["status"], self.clock())  # type: ignore[arg-type,index]
                   or errors.ItemNotAvailable("this item is not offered now"))
        require(taken["stock"] is None or taken["stock"] >= 0, "stock went below zero")
        return taken

    async def link_in(self, conn: AsyncConnection, item: dict[str, Any], voucher: dict[str, Any]) -> dict[str, Any]:
        """Name the voucher that holds the reserved item (its release returns the stock)."""
        require(voucher["amount"] == item["price"] and voucher["asset"] == item["asset"],
                "a catalogue voucher disagrees with its item")
        return await repository.insert_reservation(
            conn, realm=item["realm"], voucher_id=voucher["id"], item_id=item["id"],
            merchant_id=item["merchant_id"], points=item["price"])

    async def reservation_in(self, conn: AsyncConnection, realm: str, voucher_id: int) -> dict[str, Any] | None:
        return await repository.find_reservation(conn, realm, voucher_id)

    async def reservation(self, realm: str, voucher_id: int) -> dict[str, Any] | None:
        return await db.read(self.engine, lambda conn: repository.find_reservation(conn, realm, voucher_id))


class Settlements:
    """Settlement: per merchant and period, one `settle` entry (merchant -> the realm's
    settled account, each asset), a statement of every line, its SHA-256 signed with the
    "statement" key, and the payment.

    Which lines a period holds (snapshot-safe): the merchant's accounts are locked first,
    so every capture or clear entry that could land on them has committed (it holds the
    account's lock until COMMIT) and none can start; a period then takes, per account, the
    postings after the previous settlement's last one (`seq_after`) whose entry time is
    before the cut-off. An account's postings are in time order as well as in sequence
    order, so that is a contiguous range (seq_after, seq_through]: a capture that
    committed late is in this period if its entry time is before the cut-off and in the
    next otherwise, never in both and never in neither; the database checks the ranges
    chain (`settlement_accounts_admit`)."""

    def __init__(self, engine: AsyncEngine, ledger: Ledger, keys: KeyRing,
                 clock: Callable[[], datetime] = now_utc) -> None:
        self.engine = engine
        self.ledger = ledger
        self.keys = keys
        self.clock = clock

    async def rate(self, realm: str) -> int | None:
        return await db.read(self.engine, lambda conn: repository.find_rate(conn, realm))

    async def set_rate(self, realm: str, fen_per_point: int) -> int:
        model.check_rate(fen_per_point)
        await self.ledger.realm(realm)
        await db.in_transaction(self.engine, lambda conn: repository.save_rate(conn, realm, fen_per_point))
        return fen_per_point

    async def settle(self, merchant_id: int, to: date | datetime, actor: str, idempotency_key: str | None = None,
                     period_start: date | None = None, request_hash: bytes | None = None) -> dict[str, Any]:
        """Close the merchant's next period at the cut-off `to`. Settling the same period
        again (a retry, a concurrent call, the CLI run twice) answers the first settlement."""
        idempotency.check_key(idempotency_key)
        fingerprint = request_hash or model.settlement_request_hash(
            merchant_id=merchant_id, to=to.isoformat(), period_start=period_start.isoformat() if period_start else None)

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            settled = await self._settle_in(conn, merchant_id, to, period_start, actor, idempotency_key, fingerprint)
            if idempotency_key is not None and not settled.get("key_known"):
                await repository.insert_request(conn, realm=settled["realm"], merchant_id=merchant_id,
                                                idempotency_key=idempotency_key, request_hash=fingerprint,
                                                settlement_id=settled["id"])
            settled.pop("key_known", None)
            return settled

        return await idempotency.once(lambda: db.in_transaction(self.engine, work), errors.SettlementRaced)

    async def _settle_in(self, conn: AsyncConnection, merchant_id: int, to: date | datetime,
                         requested_start: date | None, actor: str, key: str | None,
                         fingerprint: bytes) -> dict[str, Any]:
        merchant = await repository.find_merchant(conn, merchant_id, for_update=True)  # one settlement at a time
        if merchant is None:
            raise errors.MerchantNotFound(f"no merchant {merchant_id}", merchant_id=merchant_id)
        realm_code = merchant["realm"]
        if key is not None:
            earlier = await repository.find_request(conn, realm_code, merchant_id, key)
            if earlier is not None:
                idempotency.check_same_request(earlier["request_hash"], fingerprint, "another settlement",
                                               settlement_id=earlier["settlement_id"])
                first = await repository.find_settlement(conn, earlier["settlement_id"])
                return {**idempotency.replayed(first), "key_known": True}  # type: ignore[arg-type]
        realm = await ledger_repository.find_realm(conn, realm_code)
        require(realm is not None, f"merchant {merchant_id} names no realm")
        cutoff = model.cutoff_of(to, realm["timezone"])  # type: ignore[index]
        same = await repository.find_settlement_ending(conn, realm_code, merchant_id, cutoff)
        if same is not None:  # this period is settled: exactly once, whoever asks again
            return idempotency.replayed(same)
        fen_per_point = await repository.find_rate(conn, realm_code)
        if fen_per_point is None:
            raise errors.RateNotSet(f"realm {realm_code} has no settlement rate: set it first")
        last = await repository.last_settlement(conn, realm_code, merchant_id)
        previous_end = last["period_end"] if last else None
        start = model.period_start(previous_end, merchant["created_at"], requested_start, realm["timezone"])  # type: ignore[index]
        model.check_period(start, cutoff, previous_end, self.clock())
        return await self._close_period(conn, realm, merchant, start, cutoff, fen_per_point, actor, key, fingerprint)  # type: ignore[arg-type]

    async def _close_period(self, conn: AsyncConnection, realm: dict[str, Any], merchant: dict[str, Any],
                            start: datetime, cutoff: datetime, fen_per_point: int, actor: str,
                            key: str | None, fingerprint: bytes) -> dict[str, Any]:
        realm_code, merchant_id = realm["code"], merchant["id"]
        ranges, lines = [], []
        for account in await repository.merchant_accounts(conn, realm_code, merchant_id, for_update=True):
            after = await repository.settled_through(conn, realm_code, account["id"])
            postings = await repository.postings_before(conn, realm_code, account["id"], after, cutoff)
            received = [p for p in postings if p["kind"] != "settle"]
            points = sum(p["amount"] for p in received)
            if points < 0:
                raise ledger_errors.Refused(f"account {account['id']} lost more than it received in this period")
            ranges.append({"account_id": account["id"], "asset": account["asset"], "seq_after": after,
                           "seq_through": postings[-1]["account_seq"] if postings else after, "points": points})
            lines += [model.statement_line(p) for p in received]
        lines.sort(key=lambda line: (line["time"], line["entry_id"]))
        entry_id = await self._post_settle(conn, realm_code, merchant_id, cutoff, ranges, actor)
        document = model.statement(realm, merchant, start, cutoff, fen_per_point, lines, ranges, entry_id, self.clock())
        digest = model.statement_digest(document)
        kid, signature = self.keys.sign("statement", digest)
        total = document["totals"]["points"]
        try:
            settlement = await repository.insert_settlement(
                conn, realm=realm_code, merchant_id=merchant_id, period_start=start, period_end=cutoff,
                points=total, fen_per_point=fen_per_point, amount_fen=total * fen_per_point, entry_id=entry_id,
                statement=document, statement_sha256=digest, signature=signature, key_id=kid, created_by=actor)
        except DBAPIError as exc:
            if db.sqlstate(exc) == "23505":  # a twin got there first (its lock was taken after ours was read)
                raise errors.SettlementRaced("a concurrent settlement of this period committed first") from exc
            raise
        for settled in ranges:
            await repository.insert_settlement_account(conn, realm=realm_code, settlement_id=settlement["id"], **settled)
        return idempotency.fresh(settlement)

    async def _post_settle(self, conn: AsyncConnection, realm: str, merchant_id: int, cutoff: datetime,
                           ranges: list[dict[str, Any]], actor: str) -> int | None:
        """One entry for the merchant: each asset's points from its account to the realm's
        settled account. None when there is nothing to settle."""
        lines = []
        for settled in ranges:
            if settled["points"] == 0:
                continue
            sink = await ledger_repository.find_system_account(conn, realm, "settled", settled["asset"])
            require(sink is not None, f"realm {realm} has no settled {settled['asset']} account")
            lines += [Line(settled["account_id"], -settled["points"]), Line(sink["id"], settled["points"])]  # type: ignore[index]
        if not lines:
            return None
        entry = await self.ledger.post_in(conn, EntryDraft(
            realm=realm, kind="settle", created_by=actor, lines=tuple(lines),
            idempotency_key=model.settle_entry_key(merchant_id, cutoff),
            reference=f"settlement:{merchant_id}:{model.iso(cutoff)}"[:200], memo="settlement"))
        require(not entry.get("replayed"), "a settle entry for this period already exists without its settlement")
        return entry["id"]

    async def settle_realm(self, realm: str, to: date | datetime, actor: str, idempotency_key: str | None = None,
                           period_start: date | None = None,
                           progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
        """Every merchant of the realm, each in its own transaction: one result per
        merchant (its settlement, or the refusal's code)."""
        check_realm_code(realm)
        await self.ledger.realm(realm)
        fingerprint = model.settlement_request_hash(
            realm=realm, to=to.isoformat(), period_start=period_start.isoformat() if period_start else None)
        merchant_ids = await db.read(self.engine, lambda conn: repository.realm_merchant_ids(conn, realm))
        results = []
        for done, merchant_id in enumerate(merchant_ids, start=1):
            try:
                results.append(await self.settle(merchant_id, to, actor, idempotency_key, period_start, fingerprint))
            except (errors.PeriodOverlaps, errors.InvalidPeriod, errors.PeriodGap) as refusal:
                results.append({"merchant_id": merchant_id, "refused": refusal.code, "detail": refusal.detail})
            if progress is not None:
                progress(done, len(merchant_ids))
        return results

    async def get(self, settlement_id: int) -> dict[str, Any]:
        found = await db.read(self.engine, lambda conn: repository.find_settlement(conn, settlement_id))
        if found is None:
            raise errors.SettlementNotFound(f"no settlement {settlement_id}", settlement_id=settlement_id)
        return found

    def verify(self, settlement: dict[str, Any]) -> bool:
        """The stored statement hashes to its SHA-256, and the signature holds."""
        digest = model.statement_digest(settlement["statement"])
        return digest == settlement["statement_sha256"] and self.keys.verify(
            settlement["key_id"], digest, settlement["signature"], "statement")

    async def record_payment(self, settlement_id: int, bank_reference: str, paid_on: date) -> dict[str, Any]:
        """`open` -> `paid`, once. The same payment recorded again answers the same."""
        settlement = await self.get(settlement_id)
        realm = await self.ledger.realm(settlement["realm"])
        today = self.clock().astimezone(ZoneInfo(realm["timezone"])).date()
        model.check_payment(bank_reference, paid_on, today)
        reference = bank_reference.strip()
        paid = await db.in_transaction(self.engine, lambda conn: repository.mark_paid(
            conn, settlement["realm"], settlement_id, reference, paid_on))
        if paid is not None:
            return idempotency.fresh(paid)
        current = await self.get(settlement_id)
        if (current["bank_reference"], current["paid_on"]) == (reference, paid_on):
            return idempotency.replayed(current)
        raise errors.SettlementAlreadyPaid("this settlement was paid already", bank_reference=current["bank_reference"])

    async def page(self, realm: str, merchant_id: int | None, cursor: str | None, limit: int | None) -> Page:
        before_id = model.decode_cursor(cursor)
        size = paging.check_page_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.settlements_page(
            conn, realm, merchant_id, before_id, paging.fetch_size(size)))
        return paging.page_of(rows, size, model.CURSOR.after("id"))

    # merchant view and reports -----------------------------------------------------------

    async def overview(self, merchant: dict[str, Any]) -> dict[str, Any]:
        """Balance, unsettled points, today's and this period's redemptions, past statements."""
        realm = await self.ledger.realm(merchant["realm"])

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            accounts = await repository.merchant_accounts(conn, merchant["realm"], merchant["id"])
            account_ids = [a["id"] for a in accounts]
            last = await repository.last_settlement(conn, merchant["realm"], merchant["id"])
            period_start = last["period_end"] if last else merchant["created_at"]
            day_start, day_end = model.local_day_bounds(self.clock(), realm["timezone"])
            far = datetime.max.replace(tzinfo=timezone.utc)
            statements = await repository.settlements_page(conn, merchant["realm"], merchant["id"], None,
                                                           model.STATEMENTS_IN_VIEW_MAX)
            return {
                "merchant_id": merchant["id"],
                "balances": {a["asset"]: a["balance"] for a in accounts},
                "unsettled_points": sum(a["balance"] for a in accounts),
                "today": {"start": day_start, **await repository.received_between(
                    conn, merchant["realm"], account_ids, day_start, day_end)},
                "period": {"start": period_start, **await repository.received_between(
                    conn, merchant["realm"], account_ids, period_start, far)},
                "statements": statements,
            }

        return await db.read(self.engine, work)

    async def redemption_lines(self, merchant: dict[str, Any], since: str, cursor: str | None,
                               limit: int | None) -> Page:
        """The merchant's redemptions (capture and clear postings), newest first, since the
        start of today (realm time) or of the current (unsettled) period."""
        if since not in ("today", "period"):
            raise ledger_errors.InvalidInput("since is today or period")
        realm = await self.ledger.realm(merchant["realm"])
        before = model.decode_cursor(cursor)
        size = paging.check_page_size(limit)

        async def work(conn: AsyncConnection) -> list[dict[str, Any]]:
            accounts = await repository.merchant_accounts(conn, merchant["realm"], merchant["id"])
            if since == "today":
                start = model.local_day_bounds(self.clock(), realm["timezone"])[0]
            else:
                last = await repository.last_settlement(conn, merchant["realm"], merchant["id"])
                start = last["period_end"] if last else merchant["created_at"]
            return await repository.redemption_lines(conn, merchant["realm"], [a["id"] for a in accounts],
                                                     start, before, paging.fetch_size(size))

        rows = await db.read(self.engine, work)
        return paging.page_of(rows, size, model.CURSOR.after("entry_id"))

    async def agri_spending(self, realm: str, cursor: str | None, limit: int | None) -> Page:
        """Points spent at agri shops per month (realm time) and asset: the programme's
        "help farmers sell" figure."""
        check_realm_code(realm)
        after = model.decode_month_cursor(cursor)
        size = paging.check_page_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.agri_spending(
            conn, realm, after, paging.fetch_size(size)))
        return paging.page_of(rows, size, lambda row: model.encode_month_cursor(row["month"], row["asset"]))

    async def reconciliation_differences(self, realm: str | None = None) -> list[dict[str, Any]]:
        return await db.read(self.engine, lambda conn: repository.reconciliation_differences(conn, realm))

