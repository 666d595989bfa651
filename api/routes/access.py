"""Access: enrolment codes and cards, claiming a code on a device, listing and revoking
tokens. Admins enrol anyone in their realm; an organizer enrols residents of its
station; anyone may claim a code (no token: that is the point)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from access import card as cards
from access import errors as access_errors
from access import model
from access.service import Access
from api.auth import roles
from api.errors import problems
from api.limits import per_address, per_token
from api.routes.common import PAGING, Caller, ItemsPage, Service, shaped
from earning import errors as earning_errors
from earning.service import Earning
from ledger import errors
from ledger.service import Ledger

ENROL_PATH = "/app/enrol"


class EnrolmentIn(msgspec.Struct, forbid_unknown_fields=True):
    realm: str
    role: str
    resident_id: int | None = None
    merchant_id: int | None = None
    station_id: int | None = None
    label: str | None = None
    lifetime_s: int | None = None


class EnrolmentOut(msgspec.Struct):
    id: int
    realm: str
    role: str
    code: str
    expires_at: datetime
    link: str
    card_url: str
    resident_id: int | None = None
    merchant_id: int | None = None
    station_id: int | None = None
    name: str | None = None
    station_name: str | None = None


class ClaimIn(msgspec.Struct, forbid_unknown_fields=True):
    code: str
    device_label: str | None = None


class ClaimOut(msgspec.Struct):
    token: str
    token_id: int
    role: str
    realm: str | None
    expires_at: datetime | None
    resident_id: int | None = None
    merchant_id: int | None = None
    station_id: int | None = None


class TokenOut(msgspec.Struct):
    id: int
    kind: str
    role: str
    realm: str | None
    created_at: datetime
    resident_id: int | None = None
    merchant_id: int | None = None
    station_id: int | None = None
    label: str | None = None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None


def token_out(row: dict[str, Any]) -> TokenOut:
    return shaped(TokenOut, row)


def holder_name(found: dict[str, Any]) -> str | None:
    return found.get("resident_name") or found.get("resident_code") or found.get("merchant_name")


async def check_can_enrol(earning: Earning, principal: Caller, holder: model.Holder) -> None:
    """An admin enrols any role in its realm; an organizer only residents of its station."""
    principal.require(holder.realm or "", "admin", "organizer")
    if principal.role == "admin":
        return
    if holder.role != "resident":
        raise errors.Forbidden("an organizer enrols residents only")
    await check_station_resident(earning, principal, holder.realm or "", holder.resident_id)


async def check_station_resident(earning: Earning, principal: Caller, realm: str, resident_id: int | None) -> None:
    """An organizer with a station acts only for residents registered there."""
    if principal.station_id is None or resident_id is None:
        return
    resident = await earning.resident(resident_id)
    if (resident["realm"], resident["station_id"]) != (realm, principal.station_id):
        raise errors.Forbidden(f"this token is scoped to station {principal.station_id}")


def token_scope(principal: Caller, resident_id: int | None, active: bool) -> dict[str, Any]:
    """What the caller may list: admins their realm (or all); organizers their station's
    residents and their own token; everyone else their own."""
    scope: dict[str, Any] = {"active": active, "resident_id": resident_id}
    if principal.role == "admin":
        return {**scope, "realm": principal.realm}
    if principal.role == "organizer":
        return {**scope, "realm": principal.realm, "station_id": principal.station_id,
                "self_token_id": principal.token_id}
    if principal.role == "resident":
        if resident_id not in (None, principal.resident_id):
            raise errors.Forbidden("a resident lists only its own tokens")
        return {**scope, "realm": principal.realm, "resident_id": principal.resident_id}
    if principal.role == "merchant":
        return {**scope, "realm": principal.realm, "merchant_id": principal.merchant_id}
    return {**scope, "self_token_id": principal.token_id}


def check_can_revoke(principal: Caller, token: dict[str, Any]) -> None:
    """A token itself (signing out), its holder, an organizer for its station's residents,
    an admin of its realm."""
    if token["id"] == principal.token_id:
        return
    same_realm = principal.realm is None or principal.realm == token["realm"]
    if principal.role == "admin" and same_realm:
        return
    if principal.role == "organizer" and same_realm and token["role"] == "resident" and (
            principal.station_id in (None, token["resident_station_id"])):
        return
    if principal.role == "resident" and token["role"] == "resident" and same_realm \
            and token["resident_id"] == principal.resident_id:
        return
    if principal.role == "merchant" and token["role"] == "merchant" and same_realm \
            and token["merchant_id"] == principal.merchant_id:
        return
    raise errors.Forbidden("this token may not revoke that one")


class EnrolmentsController(Controller):
    """Enrolment codes, their printable cards, and claiming one on a device."""
    path = "/v1/enrolments"
    tags = ["access"]

    @post(status_code=201, guards=[roles("admin", "organizer")],
          responses=problems(access_errors.InvalidRole, access_errors.InvalidEnrolment, access_errors.UnknownHolder,
                             earning_errors.ResidentNotFound))
    async def create_enrolment(self, access: Service[Access], earning: Service[Earning], principal: Caller,
                               data: JSONBody[EnrolmentIn]) -> EnrolmentOut:
        """A one-time code (shown once) that a device trades for a token of `role`: an admin
        enrols any role of its realm, an organizer residents of its station."""
        holder = model.Holder(data.role, data.realm, data.station_id, data.merchant_id, data.resident_id)
        await check_can_enrol(earning, principal, holder)
        made = await access.create_enrolment(holder, principal.actor, data.label, data.lifetime_s)
        link = f"{ENROL_PATH}#code={made['code']}"
        return EnrolmentOut(
            id=made["id"], realm=made["realm"], role=made["role"], code=made["code"],
            expires_at=made["expires_at"], link=link,
            card_url=f"/v1/enrolments/{made['id']}/card.pdf?code={made['code']}",
            resident_id=made["resident_id"], merchant_id=made["merchant_id"],
            station_id=made["station_id"], name=holder_name(made), station_name=made.get("station_name"))

    @get("/{enrolment_id:int}/card.pdf", media_type="application/pdf",
         guards=[roles("admin", "organizer"), per_token("render")],
         responses=problems(access_errors.EnrolmentNotFound, access_errors.EnrolmentCodeInvalid,
                            earning_errors.ResidentNotFound, errors.RealmNotFound))
    async def enrolment_card(self, request: Request, access: Service[Access], earning: Service[Earning],
                             ledger: Service[Ledger], principal: Caller, enrolment_id: FromPath[int],
                             code: FromQuery[str]) -> Response[bytes]:
        """The printable card. The code is stored only hashed, so the caller that made the
        enrolment sends it back (`card_url` has it); it must be this enrolment's code."""
        found = await access.enrolment(enrolment_id)
        holder = model.Holder(found["role"], found["realm"], found["station_id"], found["merchant_id"],
                              found["resident_id"])
        await check_can_enrol(earning, principal, holder)
        typed = model.normalize_code(code)
        if model.selector_of(typed) != found["selector"]:
            raise errors.Forbidden("this is not the code of this enrolment")
        realm = await ledger.realm(found["realm"])
        origin = str(request.base_url).rstrip("/")
        formatted = model.formatted(typed)
        pdf = cards.card_pdf(cards.Card(
            link=f"{origin}{ENROL_PATH}#code={formatted}", code=formatted, role=found["role"],
            name=holder_name(found), station=found.get("station_name"), expires_at=found["expires_at"],
            timezone=realm["timezone"]))
        return Response(pdf, media_type="application/pdf", headers={
            "Content-Disposition": f'inline; filename="enrolment-{enrolment_id}.pdf"', "Cache-Control": "no-store"})

    @post("/claim", status_code=201, guards=[per_address("public")],
          responses=problems(access_errors.EnrolmentCodeInvalid, access_errors.EnrolmentLocked,
                             access_errors.EnrolmentClaimed, access_errors.EnrolmentExpired,
                             access_errors.TooManyAttempts, access_errors.InvalidEnrolment))
    async def claim_enrolment(self, request: Request, access: Service[Access], data: JSONBody[ClaimIn]) -> ClaimOut:
        """No authentication: the code is the credential. Wrong codes count against the
        code and the client address."""
        client = request.client.host if request.client else "unknown"
        claimed = await access.claim(data.code, client, data.device_label)
        return ClaimOut(token=claimed["token"], token_id=claimed["id"], role=claimed["role"],
                        realm=claimed["realm"], expires_at=claimed["expires_at"],
                        resident_id=claimed["resident_id"], merchant_id=claimed["merchant_id"],
                        station_id=claimed["station_id"])


class TokensController(Controller):
    """Device tokens: listing and revoking (signing out)."""
    path = "/v1/tokens"
    tags = ["access"]

    @get(responses=problems(PAGING))
    async def list_tokens(self, access: Service[Access], principal: Caller, resident_id: FromQuery[int | None] = None,
                          active: FromQuery[bool] = False, cursor: FromQuery[str | None] = None,
                          limit: FromQuery[int | None] = None) -> ItemsPage[TokenOut]:
        """The tokens the caller may see: an admin its realm's; an organizer its station's
        residents' and its own; anyone else its own (`active`: only those still usable)."""
        page = await access.tokens(token_scope(principal, resident_id, active), cursor, limit)
        return ItemsPage([token_out(row) for row in page["items"]], page["next_cursor"])

    @delete("/{token_id:int}", status_code=200, responses=problems(access_errors.TokenNotFound))
    async def revoke_token(self, request: Request, access: Service[Access], principal: Caller,
                           token_id: FromPath[int]) -> TokenOut:
        """Sign a device out: the token itself, its holder, an organizer for its station's
        residents, an admin of its realm."""
        found = await access.token(token_id)
        check_can_revoke(principal, found)
        revoked = await access.revoke(token_id, principal.actor)
        request.app.state.authenticator.revoked()   # other processes hear it from the database
        return token_out(revoked)


ROUTES = [EnrolmentsController, TokensController]
