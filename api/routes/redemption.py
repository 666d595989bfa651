"""Vouchers (issue, read, cancel, renderings), redemptions (online, offline batch), the
voucher policy and the published signing keys. The merchant comes from the merchants
service; redemption gets only what it needs of it (`redemption.model.Merchant`)."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType
from litestar import Controller, Response, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody

from api.auth import roles
from api.errors import problems
from api.limits import per_address, per_token
from api.routes.common import (PAGING, Caller, IdempotencyKey, ItemsPage, Service, acting_for, check_resident_scope,
                               replayable, required_idempotency_key, shaped)
from earning import errors as earning_errors
from earning.service import Earning
from ledger import errors
from ledger.checkpoints import Checkpoints
from ledger.keys import KeyRing
from ledger.service import Ledger
from merchants import errors as merchant_errors
from merchants.service import Merchants
from redemption import codec, model, render
from redemption import errors as redemption_errors
from redemption.service import Vouchers


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


class PreviewIn(msgspec.Struct, forbid_unknown_fields=True):
    code: str | None = None
    short_code: str | None = None


class VoucherPreview(msgspec.Struct):
    """A voucher as the merchant about to take it sees it (never its code)."""
    voucher_id: int
    realm: str
    asset: str
    amount: int
    status: str
    captured_amount: int | None
    merchant_id: int | None
    merchant_kind: str | None
    merchant_name: str | None
    expires_at: datetime
    redeemable: bool
    refusal: str | None    # the problem code a redemption here and now would answer


class OfflineItemIn(msgspec.Struct, forbid_unknown_fields=True):
    code: str
    amount: int | None = None
    accepted_at: str | None = None


class BatchIn(msgspec.Struct, forbid_unknown_fields=True):
    items: list[OfflineItemIn]


class PolicyIn(msgspec.Struct, forbid_unknown_fields=True):
    lifetime_days: int
    outstanding_max: int


class VoucherOut(msgspec.Struct):
    """A voucher. Its code, short code and renderings are null unless the caller holds
    the code (its resident; the organizer who issued it, while it prints the paper)."""
    id: int
    realm: str
    resident_id: int
    asset: str
    amount: int
    merchant_id: int | None       # scoped to one merchant ...
    merchant_kind: str | None     # ... or to a kind of merchant
    status: str                   # issued, redeemed, partially_redeemed, cancelled or expired
    captured_amount: int | None
    expires_at: datetime
    created_at: datetime
    closed_at: datetime | None
    hold_entry_id: int
    code: str | None
    short_code: str | None
    qr_png_url: str | None
    qr_svg_url: str | None
    pdf_url: str | None


class RedemptionOut(msgspec.Struct):
    id: int
    voucher_id: int
    amount: int
    entry_id: int
    clear_entry_id: int | None    # the clearing entry in the merchant's realm (cross-realm)
    merchant_id: int
    realm: str
    offline: bool
    created_at: datetime


class CapturedItem(RedemptionOut, tag_field="status", tag="captured"):
    """An offline item taken (`replayed`: uploaded before, the first capture again)."""
    replayed: bool


class RefusedItem(msgspec.Struct, tag_field="status", tag="refused"):
    """An offline item refused: `code` is the problem code a redemption would answer."""
    code: str
    detail: str


class BatchOut(msgspec.Struct):
    items: list[CapturedItem | RefusedItem]   # one per uploaded item, in order


class PolicyOut(msgspec.Struct):
    realm: str
    lifetime_days: int
    outstanding_max: int


class PublishedKey(msgspec.Struct):
    """A public key. Ledger keys (from the key registry) also carry fingerprint,
    legacy_kid, realm, kind and reason; a retired voucher key, usable_until."""
    kid: int
    purpose: str                  # ledger, voucher or statement
    alg: str
    public_key: str               # base64url, unpadded
    created_at: datetime
    retired_at: datetime | None
    fingerprint: str | UnsetType = UNSET
    legacy_kid: int | None | UnsetType = UNSET
    realm: str | None | UnsetType = UNSET
    kind: str | None | UnsetType = UNSET
    reason: str | None | UnsetType = UNSET
    usable_until: datetime | UnsetType = UNSET


class PublishedKeysOut(msgspec.Struct):
    keys: list[PublishedKey]
    voucher_prefix: str


def holds_code(principal: Caller, voucher: dict[str, Any], now: datetime) -> bool:
    """A code is cash (invariant 13): only its resident holds it, and the organizer token
    that issued it (for a resident without a phone) while it prints the paper voucher,
    `model.PRINT_WINDOW_S` after issuing. Everyone else sees the voucher without it."""
    if principal.realm not in (None, voucher["realm"]):
        return False
    if principal.role == "resident":
        return principal.resident_id == voucher["resident_id"]
    return (principal.role == "organizer" and voucher["created_by"] == principal.actor
            and model.within_print_window(voucher["created_at"], now))


def voucher_body(voucher: dict[str, Any], shown: bool) -> VoucherOut:
    """The voucher; its code, short code and renderings only when `shown` (`holds_code`)."""
    body = VoucherOut(
        id=voucher["id"], realm=voucher["realm"], resident_id=voucher["resident_id"], asset=voucher["asset"],
        amount=voucher["amount"], merchant_id=voucher["scope_merchant_id"],
        merchant_kind=voucher["scope_merchant_kind"], status=voucher["status"],
        captured_amount=voucher["captured_amount"], expires_at=voucher["expires_at"],
        created_at=voucher["created_at"], closed_at=voucher["closed_at"], hold_entry_id=voucher["hold_entry_id"],
        code=None, short_code=None, qr_png_url=None, qr_svg_url=None, pdf_url=None)
    if shown:
        base = f"/v1/vouchers/{voucher['id']}"
        body.code, body.short_code = voucher["code"], codec.format_short_code(voucher["short_code"])
        body.qr_png_url, body.qr_svg_url, body.pdf_url = f"{base}/qr.png", f"{base}/qr.svg", f"{base}/voucher.pdf"
    return body


def voucher_for(vouchers: Vouchers, principal: Caller, voucher: dict[str, Any]) -> VoucherOut:
    """`voucher_body` as this caller may see it."""
    return voucher_body(voucher, holds_code(principal, voucher, vouchers.clock()))


async def merchant_view(merchants: Merchants, merchant_id: int) -> model.Merchant:
    merchant = await merchants.get_recent(merchant_id)
    return model.Merchant(merchant["id"], merchant["realm"], merchant["kind"], merchant["status"])


async def readable_voucher(vouchers: Vouchers, earning: Earning, principal: Caller, voucher_id: int) -> dict[str, Any]:
    voucher = await vouchers.get(voucher_id)
    await check_resident_scope(earning, principal, voucher["realm"], voucher["resident_id"])
    return voucher


async def voucher_code(vouchers: Vouchers, earning: Earning, principal: Caller, voucher_id: int) -> dict[str, Any]:
    """The voucher, for a caller that may hold its code (to render it)."""
    voucher = await readable_voucher(vouchers, earning, principal, voucher_id)
    if not holds_code(principal, voucher, vouchers.clock()):
        raise redemption_errors.VoucherCodeWithheld(
            "only the voucher's resident (or, for a while, the organizer who issued it) may see its code")
    return voucher


async def calling_merchant(merchants: Merchants, principal: Caller) -> model.Merchant:
    principal.require_role("merchant")
    merchant = await merchant_view(merchants, principal.merchant_id)  # type: ignore[arg-type]
    principal.require_realm(merchant.realm)
    return merchant


async def typed_or_scanned(vouchers: Vouchers, code: str | None, short_code: str | None) -> str:
    if (code is None) == (short_code is None):
        raise errors.InvalidInput("send either code (scanned) or short_code (typed)")
    return code if code is not None else await vouchers.code_for_short_code(short_code)


# what the operations can answer, beyond what every one can
READ_VOUCHER = (redemption_errors.VoucherNotFound, earning_errors.ResidentNotFound)
RENDER = (*READ_VOUCHER, redemption_errors.VoucherCodeWithheld)
CODE_READ = (errors.InvalidInput, redemption_errors.ShortCodeInvalid, redemption_errors.VoucherNotFound,
             redemption_errors.VoucherCodeMalformed, redemption_errors.VoucherPrefixInvalid,
             redemption_errors.VoucherVersionUnknown, redemption_errors.VoucherKeyUnknown,
             redemption_errors.VoucherKeyRetired, redemption_errors.VoucherSignatureInvalid,
             merchant_errors.MerchantNotFound)
CAPTURE = (redemption_errors.VoucherCodeMismatch, redemption_errors.VoucherExpired, redemption_errors.MerchantNotActive,
           redemption_errors.VoucherScopeMismatch, redemption_errors.VoucherKindMismatch,
           redemption_errors.VoucherAmountExceeded, redemption_errors.VoucherAmountInvalid,
           redemption_errors.VoucherAlreadyRedeemed, redemption_errors.VoucherCancelled)
ISSUE = (errors.InvalidInput, redemption_errors.VoucherAmountInvalid, redemption_errors.VoucherScopeInvalid,
         redemption_errors.MerchantNotActive, redemption_errors.AgriScopeRequired, redemption_errors.VoucherLimitReached,
         errors.InsufficientPoints, errors.UnknownRealm, earning_errors.ResidentNotFound,
         merchant_errors.MerchantNotFound)


class VouchersController(Controller):
    """Vouchers: issue (points held), read, list, cancel (points returned), renderings."""
    path = "/v1/vouchers"
    tags = ["vouchers"]

    @post(status_code=201, guards=[roles("resident", "organizer")], responses=problems(ISSUE))
    async def issue_voucher(self, vouchers: Service[Vouchers], merchants: Service[Merchants],
                            earning: Service[Earning], principal: Caller, data: JSONBody[VoucherIn],
                            idempotency_key: IdempotencyKey = None) -> Response[VoucherOut]:
        """Hold the amount of the resident's points for a new signed voucher (a resident for
        itself, an organizer for a resident it names); a retry under the same
        Idempotency-Key answers the first voucher (`Idempotent-Replayed: true`)."""
        realm, resident_id = await acting_for(earning, principal, data.resident_id)
        key = required_idempotency_key(idempotency_key)
        merchant = await merchant_view(merchants, data.merchant_id) if data.merchant_id is not None else None
        voucher = await vouchers.issue(realm, resident_id, data.asset, data.amount, merchant, data.merchant_kind,
                                       key, principal.actor)
        return replayable(voucher_for(vouchers, principal, voucher), voucher["replayed"])

    @get("/{voucher_id:int}", responses=problems(READ_VOUCHER))
    async def read_voucher(self, vouchers: Service[Vouchers], earning: Service[Earning], principal: Caller,
                           voucher_id: FromPath[int]) -> VoucherOut:
        return voucher_for(vouchers, principal, await readable_voucher(vouchers, earning, principal, voucher_id))

    @get(responses=problems(PAGING, earning_errors.ResidentNotFound))
    async def list_vouchers(self, vouchers: Service[Vouchers], earning: Service[Earning], principal: Caller,
                            status: FromQuery[str | None] = None, resident_id: FromQuery[int | None] = None,
                            realm: FromQuery[str | None] = None, cursor: FromQuery[str | None] = None,
                            limit: FromQuery[int | None] = None) -> ItemsPage[VoucherOut]:
        """A resident's own; one resident's (`resident_id`) for whoever may see its data; the
        whole realm's for an admin, an auditor or a realm-wide organizer. Newest first."""
        realm = realm or principal.realm
        if realm is None:
            raise errors.InvalidInput("name the realm")
        if principal.role == "resident" and resident_id is None:
            resident_id = principal.resident_id
        if resident_id is not None:
            await check_resident_scope(earning, principal, realm, resident_id, named=True)
        else:
            principal.require(realm, "organizer", "admin", "auditor")
            if principal.role == "organizer" and principal.station_id is not None:
                raise errors.Forbidden("a station organizer lists one resident's vouchers: name resident_id")
        page = await vouchers.page(realm, resident_id, status, cursor, limit)
        return ItemsPage([voucher_for(vouchers, principal, voucher) for voucher in page.items], page.next_cursor)

    @post("/{voucher_id:int}/cancel", status_code=200,  # roles checked in the handler: a bad id answers 400 first
          responses=problems(READ_VOUCHER, redemption_errors.VoucherCodeMismatch,
                             redemption_errors.VoucherAlreadyRedeemed, redemption_errors.VoucherExpired))
    async def cancel_voucher(self, vouchers: Service[Vouchers], earning: Service[Earning], principal: Caller,
                             voucher_id: FromPath[int], idempotency_key: IdempotencyKey = None) -> Response[VoucherOut]:
        """Return the held points to the resident; cancelling again answers the same
        (`Idempotent-Replayed: true`)."""
        required_idempotency_key(idempotency_key)
        voucher = await readable_voucher(vouchers, earning, principal, voucher_id)
        principal.require_role("resident", "organizer")
        cancelled = await vouchers.cancel(voucher, principal.actor)
        return replayable(voucher_for(vouchers, principal, cancelled), cancelled["replayed"], 200)

    @get("/{voucher_id:int}/qr.png", media_type="image/png", guards=[per_token("render")],
         responses=problems(RENDER))
    async def voucher_png(self, vouchers: Service[Vouchers], earning: Service[Earning], principal: Caller,
                          voucher_id: FromPath[int]) -> Response[bytes]:
        voucher = await voucher_code(vouchers, earning, principal, voucher_id)
        return Response(render.qr_png(voucher["code"]), media_type="image/png")

    @get("/{voucher_id:int}/qr.svg", media_type="image/svg+xml", guards=[per_token("render")],
         responses=problems(RENDER))
    async def voucher_svg(self, vouchers: Service[Vouchers], earning: Service[Earning], principal: Caller,
                          voucher_id: FromPath[int]) -> Response[bytes]:
        voucher = await voucher_code(vouchers, earning, principal, voucher_id)
        return Response(render.qr_svg(voucher["code"]), media_type="image/svg+xml")

    @get("/{voucher_id:int}/voucher.pdf", media_type="application/pdf", guards=[per_token("render")],
         responses=problems(RENDER, errors.RealmNotFound, merchant_errors.MerchantNotFound))
    async def voucher_pdf(self, vouchers: Service[Vouchers], earning: Service[Earning], ledger: Service[Ledger],
                          merchants: Service[Merchants], principal: Caller,
                          voucher_id: FromPath[int]) -> Response[bytes]:
        """The paper voucher: QR code, short code, amount, scope and expiry."""
        voucher = await voucher_code(vouchers, earning, principal, voucher_id)
        realm = await ledger.realm(voucher["realm"])
        merchant_name = None
        if voucher["scope_merchant_id"] is not None:
            merchant_name = (await merchants.get(voucher["scope_merchant_id"]))["name"]
        printed = render.PrintedVoucher(
            code=voucher["code"], short_code=codec.format_short_code(voucher["short_code"]),
            amount=voucher["amount"], asset=voucher["asset"], expires_at=voucher["expires_at"],
            timezone=realm["timezone"], realm_name=realm["name"],
            scope=render.scope_label(merchant_name, voucher["scope_merchant_kind"]),
            scope_en=render.scope_label_en(voucher["scope_merchant_id"], voucher["scope_merchant_kind"]))
        pdf = await asyncio.to_thread(render.voucher_pdf, printed)
        return Response(pdf, media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="voucher-{voucher_id}.pdf"'})


class RedemptionsController(Controller):
    """A merchant takes vouchers: preview, redeem online, upload offline captures."""
    path = "/v1/redemptions"
    tags = ["redemptions"]

    @post("/preview", status_code=200, guards=[roles("merchant")],
          responses=problems(CODE_READ, redemption_errors.VoucherAlreadyRedeemed, redemption_errors.VoucherCancelled,
                             redemption_errors.VoucherExpired))
    async def preview_redemption(self, vouchers: Service[Vouchers], merchants: Service[Merchants],
                                 principal: Caller, data: JSONBody[PreviewIn]) -> VoucherPreview:
        """Read a scanned or typed voucher before taking it; nothing moves. `refusal` is
        the code a redemption here and now would be refused with."""
        merchant = await calling_merchant(merchants, principal)
        code = await typed_or_scanned(vouchers, data.code, data.short_code)
        voucher, refusal = await vouchers.preview(merchant, code)
        name = None
        if voucher["scope_merchant_id"] is not None:
            name = (await merchants.get(voucher["scope_merchant_id"]))["name"]
        return VoucherPreview(
            voucher_id=voucher["id"], realm=voucher["realm"], asset=voucher["asset"], amount=voucher["amount"],
            status=voucher["status"], captured_amount=voucher["captured_amount"],
            merchant_id=voucher["scope_merchant_id"], merchant_kind=voucher["scope_merchant_kind"],
            merchant_name=name, expires_at=voucher["expires_at"], redeemable=refusal is None, refusal=refusal)

    @post(status_code=201, guards=[roles("merchant")], responses=problems(CODE_READ, CAPTURE))
    async def redeem(self, vouchers: Service[Vouchers], merchants: Service[Merchants], principal: Caller,
                     data: JSONBody[RedemptionIn], idempotency_key: IdempotencyKey = None) -> Response[RedemptionOut]:
        """Capture the voucher (all of it, or `amount` of it: the rest goes back to the
        resident); a retry answers the first redemption (`Idempotent-Replayed: true`)."""
        key = required_idempotency_key(idempotency_key)
        merchant = await calling_merchant(merchants, principal)
        code = await typed_or_scanned(vouchers, data.code, data.short_code)
        result = await vouchers.redeem(merchant, code, data.amount, key, principal.actor)
        return replayable(shaped(RedemptionOut, result), result["replayed"])

    @post("/batch", status_code=200, guards=[roles("merchant")],
          responses=problems(merchant_errors.MerchantNotFound, redemption_errors.BatchTooLarge))
    async def redeem_batch(self, vouchers: Service[Vouchers], merchants: Service[Merchants], principal: Caller,
                           data: JSONBody[BatchIn], idempotency_key: IdempotencyKey = None) -> BatchOut:
        """Offline captures, one result per item (a refused item says why, with its problem
        code); an item uploaded again answers its first capture."""
        required_idempotency_key(idempotency_key)
        merchant = await calling_merchant(merchants, principal)
        results = await vouchers.redeem_batch(merchant, [(item.code, item.amount) for item in data.items],
                                              principal.actor)
        return BatchOut(items=msgspec.convert(results, list[CapturedItem | RefusedItem]))


class VoucherPolicyController(Controller):
    """A realm's voucher policy: lifetime and how many may be outstanding per resident."""
    path = "/v1/realms/{code:str}/voucher-policy"
    tags = ["vouchers"]

    @get()
    async def read_policy(self, vouchers: Service[Vouchers], principal: Caller, code: FromPath[str]) -> PolicyOut:
        principal.require_realm(code)
        policy = await vouchers.policy(code)
        return PolicyOut(realm=code, lifetime_days=policy.lifetime_days, outstanding_max=policy.outstanding_max)

    @put(guards=[roles("admin")], responses=problems(redemption_errors.InvalidPolicy, errors.RealmNotFound))
    async def set_policy(self, vouchers: Service[Vouchers], principal: Caller, code: FromPath[str],
                         data: JSONBody[PolicyIn]) -> PolicyOut:
        principal.require(code, "admin")
        policy = await vouchers.set_policy(code, data.lifetime_days, data.outstanding_max)
        return PolicyOut(realm=code, lifetime_days=policy.lifetime_days, outstanding_max=policy.outstanding_max)


class PublishedKeysController(Controller):
    """The public keys that verify vouchers, statements and the ledger's checkpoints."""
    path = "/.well-known"
    tags = ["keys"]

    @get("/pointsbank-keys.json", guards=[per_address("public")])
    async def published_keys(self, checkpoints: Service[Checkpoints], keys: Service[KeyRing]) -> PublishedKeysOut:
        """Every purpose's public keys: ledger keys from the key registry, voucher and
        statement keys from the service's key directory. A retired voucher key stays until
        all it can have signed has expired (`usable_until`); past that it is dropped."""
        now = datetime.now(timezone.utc)
        published = [key.as_json() for key in await checkpoints.registry.keys()]
        for key in keys.public_keys():
            if key.purpose == "ledger":
                continue
            body = key.as_json()
            if key.retired_at is not None and key.purpose == "voucher":
                usable_until = key.retired_at.timestamp() + model.KEY_GRACE_S
                if usable_until < now.timestamp():
                    continue
                body["usable_until"] = datetime.fromtimestamp(usable_until, timezone.utc)
            published.append(body)
        return PublishedKeysOut(keys=msgspec.convert(published, list[PublishedKey]), voucher_prefix=codec.PREFIX)


ROUTES = [VouchersController, RedemptionsController, VoucherPolicyController, PublishedKeysController]
