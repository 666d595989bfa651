"""Settlement (issue 5 items 4 and 5): the realm's rate, closing periods, statements as
JSON, CSV and PDF, payment, the merchant's own view, and the agri-shop report."""
from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import msgspec
from litestar import Controller, Response, get, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody

from api.auth import roles
from api.errors import problems
from api.limits import per_token
from api.routes.common import (PAGING, Caller, IdempotencyKey, ItemsPage, Service, parse_timestamp, replayable,
                               required_idempotency_key, shaped)
from ledger import errors
from merchants import errors as merchant_errors, model as merchant_model, statement as rendering
from merchants.service import Merchants, Settlements


class RateIn(msgspec.Struct, forbid_unknown_fields=True):
    fen_per_point: int


class SettlementIn(msgspec.Struct, forbid_unknown_fields=True):
    realm: str
    to: str                           # a date (through that local day) or a timestamp with offset
    merchant_id: int | None = None    # None: every merchant of the realm
    period_start: str | None = None   # a date; must be where the last period ended


class PaymentIn(msgspec.Struct, forbid_unknown_fields=True):
    bank_reference: str
    paid_on: str


class Rate(msgspec.Struct):
    realm: str
    fen_per_point: int | None   # None: not set yet (settling is refused)


class StatementLinks(msgspec.Struct):
    json: str
    csv: str
    pdf: str


class Settlement(msgspec.Struct, kw_only=True):
    id: int
    realm: str
    merchant_id: int
    period_start: datetime
    period_end: datetime
    points: int
    fen_per_point: int
    amount_fen: int
    amount_yuan: str              # "12.34"
    entry_id: int                 # the settle entry
    key_id: int                   # the key that signed the statement
    status: str                   # open, paid
    bank_reference: str | None
    paid_on: date | None
    paid_at: datetime | None
    created_at: datetime
    statement_sha256: str         # hex
    signature: str                # Ed25519, base64url without padding
    links: StatementLinks
    signature_valid: bool | msgspec.UnsetType = msgspec.UNSET   # on GET /v1/settlements/{id}
    replayed: bool | msgspec.UnsetType = msgspec.UNSET          # in a realm's settlement


class SettlementRefused(msgspec.Struct):
    """One merchant of a realm's settlement that was not settled."""
    merchant_id: int
    refused: str      # the refusal's code
    detail: str


@dataclass
class RealmSettled:
    """A dataclass, not a Struct: msgspec takes a union of two Structs only when they are
    tagged, and a tag would add a field the items never had."""
    items: list[Settlement | SettlementRefused]


class SignedStatement(msgspec.Struct):
    statement: dict[str, Any]   # the statement as signed (canonical JSON: sorted keys, no spaces, UTF-8)
    sha256: str
    signature: str
    key_id: int
    alg: str
    status: str


class Takings(msgspec.Struct):
    start: datetime
    redemptions: int
    points: int


class MerchantOverview(msgspec.Struct):
    merchant_id: int
    balances: dict[str, int]    # by asset
    unsettled_points: int
    today: Takings              # since the start of today, realm time
    period: Takings             # since the last settlement
    statements: list[Settlement]


class RedemptionLine(msgspec.Struct):
    entry_id: int
    kind: str                   # capture or clear
    asset: str
    points: int
    time: datetime
    voucher_serial: str | None


class AgriSpending(msgspec.Struct):
    month: str                  # YYYY-MM, realm time
    asset: str
    points: int
    redemptions: int


def parse_date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise merchant_errors.InvalidPeriod(f"{name} is a date, YYYY-MM-DD") from None


def parse_cut_off(value: str) -> date | datetime:
    return parse_date(value, "to") if len(value) == 10 else parse_timestamp(value)


def settlement_of(row: dict[str, Any], **extra: Any) -> Settlement:
    base = f"/v1/settlements/{row['id']}"
    return Settlement(
        id=row["id"], realm=row["realm"], merchant_id=row["merchant_id"], period_start=row["period_start"],
        period_end=row["period_end"], points=row["points"], fen_per_point=row["fen_per_point"],
        amount_fen=row["amount_fen"], amount_yuan=merchant_model.yuan(row["amount_fen"]), entry_id=row["entry_id"],
        key_id=row["key_id"], status=row["status"], bank_reference=row["bank_reference"], paid_on=row["paid_on"],
        paid_at=row["paid_at"], created_at=row["created_at"], statement_sha256=row["statement_sha256"].hex(),
        signature=signature_text(row["signature"]),
        links=StatementLinks(json=f"{base}/statement.json", csv=f"{base}/statement.csv", pdf=f"{base}/statement.pdf"),
        **extra)


def signature_text(signature: bytes) -> str:
    return base64.urlsafe_b64encode(signature).decode().rstrip("=")


def require_merchant_scope(principal: Caller, realm: str, merchant_id: int) -> None:
    """Admin and auditor of the realm, or the merchant itself."""
    principal.require_realm(realm)
    principal.require_role("admin", "auditor", "merchant")
    if principal.role == "merchant" and principal.merchant_id != merchant_id:
        raise merchant_errors.NotYourMerchant("a merchant sees only its own settlements")


async def readable_settlement(settlements: Settlements, principal: Caller, settlement_id: int) -> dict[str, Any]:
    settlement = await settlements.get(settlement_id)
    require_merchant_scope(principal, settlement["realm"], settlement["merchant_id"])
    return settlement


async def viewed_merchant(merchants: Merchants, principal: Caller, merchant_id: int) -> dict[str, Any]:
    merchant = await merchants.get(merchant_id)
    require_merchant_scope(principal, merchant["realm"], merchant_id)
    return merchant


SCOPE = (merchant_errors.NotYourMerchant, errors.Forbidden)
SETTLEMENT_READ = (merchant_errors.SettlementNotFound, *SCOPE)
SETTLED = (merchant_errors.RateNotSet, merchant_errors.InvalidPeriod, merchant_errors.PeriodOverlaps,
           merchant_errors.PeriodGap, merchant_errors.PeriodFuture, merchant_errors.SettlementRaced,
           merchant_errors.MerchantNotFound, errors.InvalidTimestamp, errors.InvalidRealm, errors.RealmNotFound,
           errors.Refused)


class RateController(Controller):
    path = "/v1/realms/{code:str}/settlement-rate"
    tags = ["settlement"]

    @get()
    async def read_rate(self, settlements: Service[Settlements], principal: Caller, code: FromPath[str]) -> Rate:
        principal.require_realm(code)
        return Rate(code, await settlements.rate(code))

    @put(guards=[roles("admin")], responses=problems(merchant_errors.InvalidRate, errors.InvalidRealm))
    async def set_rate(self, settlements: Service[Settlements], principal: Caller, code: FromPath[str],
                       data: JSONBody[RateIn]) -> Rate:
        """Fen paid per point at settlement (applies to periods settled from now on)."""
        principal.require_realm(code)
        return Rate(code, await settlements.set_rate(code, data.fen_per_point))


class SettlementController(Controller):
    path = "/v1/settlements"
    tags = ["settlement"]

    @post(status_code=201, guards=[roles("admin")],
          responses={**problems(SETTLED), 200: ResponseSpec(
              RealmSettled, generate_examples=False,
              description="every merchant of the realm (no merchant_id): one item each, settled or refused")})
    async def settle(self, settlements: Service[Settlements], merchants: Service[Merchants], principal: Caller,
                     data: JSONBody[SettlementIn],
                     idempotency_key: IdempotencyKey = None) -> Response[Settlement]:
        """Close a period for one merchant (201, the settlement) or for all (200, one item per
        merchant). Settling a period again answers the first settlement."""
        principal.require_realm(data.realm)
        key = required_idempotency_key(idempotency_key)
        to = parse_cut_off(data.to)
        start = parse_date(data.period_start, "period_start") if data.period_start else None
        if data.merchant_id is None:
            results = await settlements.settle_realm(data.realm, to, principal.actor, key, start)
            items = [settlement_of(r, replayed=r["replayed"]) if "id" in r else shaped(SettlementRefused, r)
                     for r in results]
            return Response(RealmSettled(items), status_code=200)  # type: ignore[arg-type]
        merchant = await merchants.get(data.merchant_id)
        if merchant["realm"] != data.realm:
            raise merchant_errors.MerchantNotFound(f"no merchant {data.merchant_id} in realm {data.realm}")
        settled = await settlements.settle(data.merchant_id, to, principal.actor, key, start)
        return replayable(settlement_of(settled), settled["replayed"])

    @get(responses=problems(SCOPE, errors.InvalidRealm, PAGING))
    async def list_settlements(self, settlements: Service[Settlements], principal: Caller, realm: FromQuery[str],
                               merchant_id: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
                               limit: FromQuery[int | None] = None) -> ItemsPage[Settlement]:
        """The realm's settlements, newest first (a merchant sees its own)."""
        if principal.role == "merchant":
            merchant_id = principal.merchant_id
        require_merchant_scope(principal, realm, merchant_id or 0)
        page = await settlements.page(realm, merchant_id, cursor, limit)
        return ItemsPage([settlement_of(row) for row in page.items], page.next_cursor)

    @get("/{settlement_id:int}", responses=problems(SETTLEMENT_READ))
    async def read_settlement(self, settlements: Service[Settlements], principal: Caller,
                              settlement_id: FromPath[int]) -> Settlement:
        """The settlement, with `signature_valid` checked here."""
        settlement = await readable_settlement(settlements, principal, settlement_id)
        return settlement_of(settlement, signature_valid=settlements.verify(settlement))

    @get("/{settlement_id:int}/statement.json", responses=problems(SETTLEMENT_READ))
    async def statement_json(self, settlements: Service[Settlements], principal: Caller,
                             settlement_id: FromPath[int]) -> SignedStatement:
        """The signed statement: `sha256` is over its canonical JSON (sorted keys, no spaces,
        UTF-8); `signature` is Ed25519 over those 32 bytes by the published key `key_id`."""
        settlement = await readable_settlement(settlements, principal, settlement_id)
        return SignedStatement(statement=settlement["statement"], sha256=settlement["statement_sha256"].hex(),
                               signature=signature_text(settlement["signature"]), key_id=settlement["key_id"],
                               alg="Ed25519", status=settlement["status"])

    @get("/{settlement_id:int}/statement.csv", media_type="text/csv", responses=problems(SETTLEMENT_READ))
    async def statement_csv(self, settlements: Service[Settlements], principal: Caller,
                            settlement_id: FromPath[int]) -> Response[bytes]:
        settlement = await readable_settlement(settlements, principal, settlement_id)
        return Response(rendering.statement_csv(settlement), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="statement-{settlement_id}.csv"'})

    @get("/{settlement_id:int}/statement.pdf", media_type="application/pdf", guards=[per_token("render")],
         responses=problems(SETTLEMENT_READ))
    async def statement_pdf(self, settlements: Service[Settlements], principal: Caller,
                            settlement_id: FromPath[int]) -> Response[bytes]:
        settlement = await readable_settlement(settlements, principal, settlement_id)
        pdf = await asyncio.to_thread(rendering.statement_pdf, settlement)
        return Response(pdf, media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="statement-{settlement_id}.pdf"'})

    @post("/{settlement_id:int}/payment", status_code=200, guards=[roles("admin")],
          responses=problems(merchant_errors.SettlementNotFound, merchant_errors.SettlementAlreadyPaid,
                             merchant_errors.InvalidPayment, merchant_errors.InvalidPeriod))
    async def record_payment(self, settlements: Service[Settlements], principal: Caller,
                             settlement_id: FromPath[int], data: JSONBody[PaymentIn]) -> Response[Settlement]:
        """The bank transfer that paid it (recorded once; the same payment again is a replay)."""
        settlement = await settlements.get(settlement_id)
        principal.require_realm(settlement["realm"])
        paid = await settlements.record_payment(settlement_id, data.bank_reference, parse_date(data.paid_on, "paid_on"))
        return replayable(settlement_of(paid), paid["replayed"], status_code=200)


class MerchantViewController(Controller):
    path = "/v1/merchants/{merchant_id:int}"
    tags = ["settlement"]

    @get("/overview", responses=problems(merchant_errors.MerchantNotFound, SCOPE))
    async def merchant_overview(self, settlements: Service[Settlements], merchants: Service[Merchants],
                                principal: Caller, merchant_id: FromPath[int]) -> MerchantOverview:
        """What the merchant's page shows: balances, today's and the period's takings, statements."""
        merchant = await viewed_merchant(merchants, principal, merchant_id)
        overview = await settlements.overview(merchant)
        return MerchantOverview(
            merchant_id=overview["merchant_id"], balances=overview["balances"],
            unsettled_points=overview["unsettled_points"], today=shaped(Takings, overview["today"]),
            period=shaped(Takings, overview["period"]),
            statements=[settlement_of(row) for row in overview["statements"]])

    @get("/redemptions", responses=problems(merchant_errors.MerchantNotFound, SCOPE, PAGING))
    async def merchant_redemptions(self, settlements: Service[Settlements], merchants: Service[Merchants],
                                   principal: Caller, merchant_id: FromPath[int],
                                   since: FromQuery[str] = "period", cursor: FromQuery[str | None] = None,
                                   limit: FromQuery[int | None] = None) -> ItemsPage[RedemptionLine]:
        """The merchant's redemptions, newest first, since today's start or the period's."""
        merchant = await viewed_merchant(merchants, principal, merchant_id)
        page = await settlements.redemption_lines(merchant, since, cursor, limit)
        return ItemsPage([redemption_line(row) for row in page.items], page.next_cursor)


def redemption_line(line: dict[str, Any]) -> RedemptionLine:
    reference = line["reference"] or ""
    return RedemptionLine(entry_id=line["entry_id"], kind=line["kind"], asset=line["asset"], points=line["amount"],
                          time=line["created_at"],
                          voucher_serial=reference.removeprefix("voucher:") if reference.startswith("voucher:")
                          else None)


class ReportController(Controller):
    path = "/v1/reports"
    tags = ["settlement"]

    @get("/agri-spending", guards=[roles("admin", "auditor", "organizer")],
         responses=problems(errors.InvalidRealm, PAGING))
    async def agri_spending(self, settlements: Service[Settlements], principal: Caller, realm: FromQuery[str],
                            cursor: FromQuery[str | None] = None,
                            limit: FromQuery[int | None] = None) -> ItemsPage[AgriSpending]:
        """Points spent at agricultural-product shops per month (realm time) and asset."""
        principal.require_realm(realm)
        page = await settlements.agri_spending(realm, cursor, limit)
        return ItemsPage([shaped(AgriSpending, row) for row in page.items], page.next_cursor)


ROUTES = [RateController, SettlementController, MerchantViewController, ReportController]
