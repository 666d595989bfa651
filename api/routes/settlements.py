"""Settlement (issue 5 items 4 and 5): the realm's rate, closing periods, statements as
JSON, CSV and PDF, payment, the merchant's own view, and the agri-shop report."""
from __future__ import annotations

import asyncio
import base64
from datetime import date, datetime
from typing import Any

import msgspec
from litestar import Request, Response, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody

from api.limits import per_token
from api.routes.common import (REPLAYED_HEADER, Caller, IdempotencyKey, page_body, parse_timestamp,
                               required_idempotency_key, services)
from ledger import errors
from merchants import errors as merchant_errors, model as merchant_model, statement as rendering


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


def parse_date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise merchant_errors.InvalidPeriod(f"{name} is a date, YYYY-MM-DD") from None


def parse_cut_off(value: str) -> date | datetime:
    return parse_date(value, "to") if len(value) == 10 else parse_timestamp(value)


def settlement_body(settlement: dict[str, Any]) -> dict[str, Any]:
    base = f"/v1/settlements/{settlement['id']}"
    body = {k: settlement[k] for k in ("id", "realm", "merchant_id", "period_start", "period_end", "points",
                                       "fen_per_point", "amount_fen", "entry_id", "key_id", "status",
                                       "bank_reference", "paid_on", "paid_at", "created_at")}
    body["amount_yuan"] = merchant_model.yuan(settlement["amount_fen"])
    body["statement_sha256"] = settlement["statement_sha256"].hex()
    body["signature"] = base64.urlsafe_b64encode(settlement["signature"]).decode().rstrip("=")
    body["links"] = {"json": f"{base}/statement.json", "csv": f"{base}/statement.csv",
                     "pdf": f"{base}/statement.pdf"}
    return body


def require_merchant_scope(principal: Caller, realm: str, merchant_id: int) -> None:
    """Admin and auditor of the realm, or the merchant itself."""
    principal.require_realm(realm)
    principal.require_role("admin", "auditor", "merchant")
    if principal.role == "merchant" and principal.merchant_id != merchant_id:
        raise merchant_errors.NotYourMerchant("a merchant sees only its own settlements")


async def readable_settlement(request: Request, principal: Caller, settlement_id: int) -> dict[str, Any]:
    settlement = await services(request).settlements.get(settlement_id)
    require_merchant_scope(principal, settlement["realm"], settlement["merchant_id"])
    return settlement


@get("/v1/realms/{code:str}/settlement-rate")
async def read_rate(request: Request, principal: Caller, code: FromPath[str]) -> dict[str, Any]:
    principal.require_realm(code)
    return {"realm": code, "fen_per_point": await services(request).settlements.rate(code)}


@put("/v1/realms/{code:str}/settlement-rate")
async def set_rate(request: Request, principal: Caller, code: FromPath[str], data: JSONBody[RateIn]) -> dict[str, Any]:
    principal.require(code, "admin")
    return {"realm": code, "fen_per_point": await services(request).settlements.set_rate(code, data.fen_per_point)}


@post("/v1/settlements")
async def settle(request: Request, principal: Caller, data: JSONBody[SettlementIn],
                 idempotency_key: IdempotencyKey = None) -> Response[dict[str, Any]]:
    """Close a period for one merchant (201, the settlement) or for all (200, one item per
    merchant). Settling a period again answers the first settlement."""
    principal.require(data.realm, "admin")
    key = required_idempotency_key(idempotency_key)
    to = parse_cut_off(data.to)
    start = parse_date(data.period_start, "period_start") if data.period_start else None
    service = services(request).settlements
    if data.merchant_id is None:
        results = await service.settle_realm(data.realm, to, principal.actor, key, start)
        items = [settlement_body(r) | {"replayed": r["replayed"]} if "id" in r else r for r in results]
        return Response({"items": items}, status_code=200)
    merchant = await services(request).merchants.get(data.merchant_id)
    if merchant["realm"] != data.realm:
        raise merchant_errors.MerchantNotFound(f"no merchant {data.merchant_id} in realm {data.realm}")
    settled = await service.settle(data.merchant_id, to, principal.actor, key, start)
    return Response(settlement_body(settled), status_code=201,
                    headers={REPLAYED_HEADER: "true"} if settled["replayed"] else {})


@get("/v1/settlements")
async def list_settlements(request: Request, principal: Caller, realm: FromQuery[str],
                           merchant_id: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
                           limit: FromQuery[int | None] = None) -> dict[str, Any]:
    if principal.role == "merchant":
        merchant_id = principal.merchant_id
    require_merchant_scope(principal, realm, merchant_id or 0)
    page = await services(request).settlements.page(realm, merchant_id, cursor, limit)
    return page_body(page, settlement_body)


@get("/v1/settlements/{settlement_id:int}")
async def read_settlement(request: Request, principal: Caller, settlement_id: FromPath[int]) -> dict[str, Any]:
    settlement = await readable_settlement(request, principal, settlement_id)
    return {**settlement_body(settlement), "signature_valid": services(request).settlements.verify(settlement)}


@get("/v1/settlements/{settlement_id:int}/statement.json")
async def statement_json(request: Request, principal: Caller, settlement_id: FromPath[int]) -> dict[str, Any]:
    """The signed statement: `sha256` is over its canonical JSON (sorted keys, no spaces,
    UTF-8); `signature` is Ed25519 over those 32 bytes by the published key `key_id`."""
    settlement = await readable_settlement(request, principal, settlement_id)
    return {"statement": settlement["statement"], "sha256": settlement["statement_sha256"].hex(),
            "signature": base64.urlsafe_b64encode(settlement["signature"]).decode().rstrip("="),
            "key_id": settlement["key_id"], "alg": "Ed25519", "status": settlement["status"]}


@get("/v1/settlements/{settlement_id:int}/statement.csv", media_type="text/csv")
async def statement_csv(request: Request, principal: Caller, settlement_id: FromPath[int]) -> Response[bytes]:
    settlement = await readable_settlement(request, principal, settlement_id)
    return Response(rendering.statement_csv(settlement), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="statement-{settlement_id}.csv"'})


@get("/v1/settlements/{settlement_id:int}/statement.pdf", media_type="application/pdf", guards=[per_token("render")])
async def statement_pdf(request: Request, principal: Caller, settlement_id: FromPath[int]) -> Response[bytes]:
    settlement = await readable_settlement(request, principal, settlement_id)
    pdf = await asyncio.to_thread(rendering.statement_pdf, settlement)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="statement-{settlement_id}.pdf"'})


@post("/v1/settlements/{settlement_id:int}/payment", status_code=200)
async def record_payment(request: Request, principal: Caller, settlement_id: FromPath[int],
                         data: JSONBody[PaymentIn]) -> Response[dict[str, Any]]:
    settlement = await services(request).settlements.get(settlement_id)
    principal.require(settlement["realm"], "admin")
    paid = await services(request).settlements.record_payment(
        settlement_id, data.bank_reference, parse_date(data.paid_on, "paid_on"))
    return Response(settlement_body(paid), status_code=200, headers={REPLAYED_HEADER: "true"} if paid["replayed"] else {})


async def viewed_merchant(request: Request, principal: Caller, merchant_id: int) -> dict[str, Any]:
    merchant = await services(request).merchants.get(merchant_id)
    require_merchant_scope(principal, merchant["realm"], merchant_id)
    return merchant


@get("/v1/merchants/{merchant_id:int}/overview")
async def merchant_overview(request: Request, principal: Caller, merchant_id: FromPath[int]) -> dict[str, Any]:
    merchant = await viewed_merchant(request, principal, merchant_id)
    overview = await services(request).settlements.overview(merchant)
    return {**overview, "statements": [settlement_body(s) for s in overview["statements"]]}


@get("/v1/merchants/{merchant_id:int}/redemptions")
async def merchant_redemptions(request: Request, principal: Caller, merchant_id: FromPath[int],
                               since: FromQuery[str] = "period", cursor: FromQuery[str | None] = None,
                               limit: FromQuery[int | None] = None) -> dict[str, Any]:
    merchant = await viewed_merchant(request, principal, merchant_id)
    page = await services(request).settlements.redemption_lines(merchant, since, cursor, limit)
    return page_body(page, redemption_line_body)


def redemption_line_body(line: dict[str, Any]) -> dict[str, Any]:
    reference = line["reference"] or ""
    return {"entry_id": line["entry_id"], "kind": line["kind"], "asset": line["asset"], "points": line["amount"],
            "time": line["created_at"],
            "voucher_serial": reference.removeprefix("voucher:") if reference.startswith("voucher:") else None}


@get("/v1/reports/agri-spending")
async def agri_spending(request: Request, principal: Caller, realm: FromQuery[str], cursor: FromQuery[str | None] = None,
                        limit: FromQuery[int | None] = None) -> dict[str, Any]:
    """Points spent at agricultural-product shops per month (realm time) and asset."""
    principal.require(realm, "admin", "auditor", "organizer")
    return page_body(await services(request).settlements.agri_spending(realm, cursor, limit))


ROUTES = [read_rate, set_rate, settle, list_settlements, read_settlement, statement_json, statement_csv,
          statement_pdf, record_payment, merchant_overview, merchant_redemptions, agri_spending]
