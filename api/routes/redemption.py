"""Vouchers (issue, read, cancel, renderings), redemptions (online, offline batch), the
voucher policy and the published signing keys. The merchant comes from the merchants
service; redemption gets only what it needs of it (`redemption.model.Merchant`)."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

import msgspec
from litestar import Request, Response, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody

from api.limits import per_address, per_token
from api.routes.common import (REPLAYED_HEADER, Caller, IdempotencyKey, page_body,
                               required_idempotency_key, resident_acted_for, services)
from ledger import errors
from redemption import codec, model, render
from redemption.service import redemption_body


class VoucherIn(msgspec.Struct, forbid_unknown_fields=True):
    asset: str
    amount: int
    merchant_id: int | None = None
    merchant_kind: str | None = None
    resident_id: int | None = None   # an organizer issues for a resident of its realm


class RedemptionIn(msgspec.Struct, forbid_unknown_fields=True):
    code: str | None = None
    short_code: str | None = None
    amount: int | None = None


class OfflineItemIn(msgspec.Struct, forbid_unknown_fields=True):
    code: str
    amount: int | None = None
    accepted_at: str | None = None


class BatchIn(msgspec.Struct, forbid_unknown_fields=True):
    items: list[OfflineItemIn]


class PolicyIn(msgspec.Struct, forbid_unknown_fields=True):
    lifetime_days: int
    outstanding_max: int


def voucher_body(voucher: dict[str, Any]) -> dict[str, Any]:
    base = f"/v1/vouchers/{voucher['id']}"
    return {"id": voucher["id"], "realm": voucher["realm"], "code": voucher["code"],
            "short_code": codec.format_short_code(voucher["short_code"]),
            "resident_id": voucher["resident_id"], "asset": voucher["asset"],
            "amount": voucher["amount"], "merchant_id": voucher["scope_merchant_id"],
            "merchant_kind": voucher["scope_merchant_kind"], "status": voucher["status"],
            "captured_amount": voucher["captured_amount"], "expires_at": voucher["expires_at"],
            "created_at": voucher["created_at"], "closed_at": voucher["closed_at"],
            "hold_entry_id": voucher["hold_entry_id"],
            "qr_png_url": f"{base}/qr.png", "qr_svg_url": f"{base}/qr.svg", "pdf_url": f"{base}/voucher.pdf"}


def created(body: dict[str, Any], replayed: bool) -> Response[dict[str, Any]]:
    return Response(body, status_code=201, headers={REPLAYED_HEADER: "true"} if replayed else {})


async def merchant_view(request: Request, merchant_id: int) -> model.Merchant:
    merchant = await services(request).merchants.get_recent(merchant_id)
    return model.Merchant(merchant["id"], merchant["realm"], merchant["kind"], merchant["status"])


async def readable_voucher(request: Request, principal: Caller, voucher_id: int) -> dict[str, Any]:
    voucher = await services(request).vouchers.get(voucher_id)
    principal.require_realm(voucher["realm"])
    if principal.role == "resident" and principal.resident_id == voucher["resident_id"]:
        return voucher
    if principal.role in ("organizer", "admin", "auditor"):
        return voucher
    raise errors.Forbidden("this token cannot read that voucher")


@post("/v1/vouchers")
async def issue_voucher(request: Request, principal: Caller, data: JSONBody[VoucherIn],
                        idempotency_key: IdempotencyKey = None) -> Response[dict[str, Any]]:
    realm, resident_id = await resident_acted_for(request, principal, data.resident_id)
    key = required_idempotency_key(idempotency_key)
    merchant = await merchant_view(request, data.merchant_id) if data.merchant_id is not None else None
    voucher = await services(request).vouchers.issue(
        realm, resident_id, data.asset, data.amount, merchant, data.merchant_kind, key, principal.actor)
    return created(voucher_body(voucher), voucher["replayed"])


@get("/v1/vouchers/{voucher_id:int}")
async def read_voucher(request: Request, principal: Caller, voucher_id: FromPath[int]) -> dict[str, Any]:
    return voucher_body(await readable_voucher(request, principal, voucher_id))


@get("/v1/vouchers")
async def list_vouchers(request: Request, principal: Caller, status: FromQuery[str | None] = None,
                        resident_id: FromQuery[int | None] = None, realm: FromQuery[str | None] = None,
                        cursor: FromQuery[str | None] = None,
                        limit: FromQuery[int | None] = None) -> dict[str, Any]:
    if principal.role == "resident":
        realm, resident_id = principal.realm, principal.resident_id
    else:
        principal.require_role("organizer", "admin", "auditor")
        realm = realm or principal.realm
        if realm is None:
            raise errors.InvalidInput("name the realm")
        principal.require_realm(realm)
    page = await services(request).vouchers.page(realm, resident_id, status, cursor, limit)  # type: ignore[arg-type]
    return page_body(page, voucher_body)


@post("/v1/vouchers/{voucher_id:int}/cancel", status_code=200)
async def cancel_voucher(request: Request, principal: Caller, voucher_id: FromPath[int],
                         idempotency_key: IdempotencyKey = None) -> Response[dict[str, Any]]:
    required_idempotency_key(idempotency_key)
    voucher = await readable_voucher(request, principal, voucher_id)
    principal.require_role("resident", "organizer")
    cancelled = await services(request).vouchers.cancel(voucher, principal.actor)
    headers = {REPLAYED_HEADER: "true"} if cancelled["replayed"] else {}
    return Response(voucher_body(cancelled), status_code=200, headers=headers)


@get("/v1/vouchers/{voucher_id:int}/qr.png", media_type="image/png", guards=[per_token("render")])
async def voucher_png(request: Request, principal: Caller, voucher_id: FromPath[int]) -> Response[bytes]:
    voucher = await readable_voucher(request, principal, voucher_id)
    return Response(render.qr_png(voucher["code"]), media_type="image/png")


@get("/v1/vouchers/{voucher_id:int}/qr.svg", media_type="image/svg+xml", guards=[per_token("render")])
async def voucher_svg(request: Request, principal: Caller, voucher_id: FromPath[int]) -> Response[bytes]:
    voucher = await readable_voucher(request, principal, voucher_id)
    return Response(render.qr_svg(voucher["code"]), media_type="image/svg+xml")


@get("/v1/vouchers/{voucher_id:int}/voucher.pdf", media_type="application/pdf", guards=[per_token("render")])
async def voucher_pdf(request: Request, principal: Caller, voucher_id: FromPath[int]) -> Response[bytes]:
    voucher = await readable_voucher(request, principal, voucher_id)
    realm = await services(request).ledger.realm(voucher["realm"])
    merchant_name = None
    if voucher["scope_merchant_id"] is not None:
        merchant_name = (await services(request).merchants.get(voucher["scope_merchant_id"]))["name"]
    printed = render.PrintedVoucher(
        code=voucher["code"], short_code=codec.format_short_code(voucher["short_code"]),
        amount=voucher["amount"], asset=voucher["asset"], expires_at=voucher["expires_at"],
        timezone=realm["timezone"], realm_name=realm["name"],
        scope=render.scope_label(merchant_name, voucher["scope_merchant_kind"]))
    pdf = await asyncio.to_thread(render.voucher_pdf, printed)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="voucher-{voucher_id}.pdf"'})


async def calling_merchant(request: Request, principal: Caller) -> model.Merchant:
    principal.require_role("merchant")
    merchant = await merchant_view(request, principal.merchant_id)  # type: ignore[arg-type]
    principal.require_realm(merchant.realm)
    return merchant


@post("/v1/redemptions")
async def redeem(request: Request, principal: Caller, data: JSONBody[RedemptionIn],
                 idempotency_key: IdempotencyKey = None) -> Response[dict[str, Any]]:
    key = required_idempotency_key(idempotency_key)
    merchant = await calling_merchant(request, principal)
    vouchers = services(request).vouchers
    if (data.code is None) == (data.short_code is None):
        raise errors.InvalidInput("send either code (scanned) or short_code (typed)")
    code = data.code if data.code is not None else await vouchers.code_for_short_code(data.short_code)
    result = await vouchers.redeem(merchant, code, data.amount, key, principal.actor)
    return created(redemption_body(result), result["replayed"])


@post("/v1/redemptions/batch", status_code=200)
async def redeem_batch(request: Request, principal: Caller, data: JSONBody[BatchIn],
                       idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
    required_idempotency_key(idempotency_key)
    merchant = await calling_merchant(request, principal)
    results = await services(request).vouchers.redeem_batch(
        merchant, [(item.code, item.amount) for item in data.items], principal.actor)
    return {"items": results}


@get("/v1/realms/{code:str}/voucher-policy")
async def read_policy(request: Request, principal: Caller, code: FromPath[str]) -> dict[str, Any]:
    principal.require_realm(code)
    policy = await services(request).vouchers.policy(code)
    return {"realm": code, "lifetime_days": policy.lifetime_days, "outstanding_max": policy.outstanding_max}


@put("/v1/realms/{code:str}/voucher-policy")
async def set_policy(request: Request, principal: Caller, code: FromPath[str],
                     data: JSONBody[PolicyIn]) -> dict[str, Any]:
    principal.require(code, "admin")
    policy = await services(request).vouchers.set_policy(code, data.lifetime_days, data.outstanding_max)
    return {"realm": code, "lifetime_days": policy.lifetime_days, "outstanding_max": policy.outstanding_max}


@get("/.well-known/pointsbank-keys.json", guards=[per_address("public")])
async def published_keys(request: Request) -> dict[str, Any]:
    """Every purpose's public keys. A retired voucher key stays until all it can have
    signed has expired (`usable_until`); past that it is dropped."""
    now = datetime.now(timezone.utc)
    keys = []
    for key in services(request).keys.public_keys():
        body = key.as_json()
        if key.retired_at is not None and key.purpose == "voucher":
            usable_until = key.retired_at.timestamp() + model.KEY_GRACE_S
            if usable_until < now.timestamp():
                continue
            body["usable_until"] = datetime.fromtimestamp(usable_until, timezone.utc).isoformat()
        keys.append(body)
    return {"keys": keys, "voucher_prefix": codec.PREFIX}


ROUTES = [issue_voucher, read_voucher, list_vouchers, cancel_voucher, voucher_png, voucher_svg,
          voucher_pdf, redeem, redeem_batch, read_policy, set_policy, published_keys]
