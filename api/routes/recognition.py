"""Recognition and privacy (issue 16 items 4 and 5): star levels by volunteer hours
(thresholds per realm), the annual 文明实践之星 an admin awards with a citation and its
certificate PDF, and a resident's choice to show its name to other residents."""
from __future__ import annotations

from datetime import datetime

import msgspec
from litestar import Controller, Response, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody

from api.auth import roles
from api.errors import problems
from api.limits import per_token
from api.routes.common import (Caller, IdempotencyKey, Service, check_resident_scope, replayable,
                               required_idempotency_key)
from earning import errors as earning_errors
from earning.service import Earning
from insight import errors as insight_errors
from insight import model, render
from insight.service import Privacy, Recognition

STAFF = ("admin", "organizer", "auditor")
RESIDENT_LOOKUP = (earning_errors.ResidentNotFound, insight_errors.UnknownResident)


class PrivacyIn(msgspec.Struct, forbid_unknown_fields=True):
    name_public: bool


class PrivacyOut(msgspec.Struct):
    resident_id: int
    name_public: bool           # false: other residents see the name masked (张*)


class ThresholdsIn(msgspec.Struct, forbid_unknown_fields=True):
    hours: list[int]            # five, rising: hours for one to five stars


class ThresholdsOut(msgspec.Struct):
    realm: str
    hours: list[int]


class RecognitionIn(msgspec.Struct, forbid_unknown_fields=True):
    realm: str
    resident_id: int
    year: int
    citation: str


class RecognitionOut(msgspec.Struct):
    id: int
    realm: str
    resident_id: int | None     # null when another resident reads it
    name: str                   # masked for other residents unless the awardee opted in
    year: int
    title: str
    citation: str
    created_at: datetime
    certificate: str | None     # the PDF's path, for the awardee and the realm's staff


class StandingOut(msgspec.Struct):
    resident_id: int
    volunteer_hours: float
    level: int                  # 0 to 5 stars
    next_level_hours: int | None
    thresholds: list[int]
    recognitions: list[RecognitionOut]


async def known_resident(earning: Earning, privacy: Privacy, resident_id: int) -> dict:
    """The resident (404 resident_not_found, as everywhere), with its privacy flag."""
    await earning.resident(resident_id)
    return await privacy.resident(resident_id)


def recognition_out(row: dict, principal: Caller) -> RecognitionOut:
    own = principal.role == "resident" and principal.resident_id == row["resident_id"]
    staff = principal.role in STAFF
    name = (row.get("display_name") or model.NAMELESS) if staff else model.shown_name(
        row.get("display_name"), row.get("name_public", False), own)
    return RecognitionOut(row["id"], row["realm"], row["resident_id"] if staff or own else None, name, row["year"],
                          row["title"], row["citation"], row["created_at"],
                          f"/v1/recognitions/{row['id']}/certificate.pdf" if staff or own else None)


class PrivacyController(Controller):
    path = "/v1/residents/{resident_id:int}/privacy"
    tags = ["privacy"]

    @get("/", responses=problems(RESIDENT_LOOKUP))
    async def read(self, earning: Service[Earning], privacy: Service[Privacy], principal: Caller,
                   resident_id: FromPath[int]) -> PrivacyOut:
        resident = await known_resident(earning, privacy, resident_id)
        await check_resident_scope(earning, principal, resident["realm"], resident_id)
        return PrivacyOut(resident_id, resident["name_public"])

    @put("/", guards=[roles("resident")], responses=problems(RESIDENT_LOOKUP))
    async def choose(self, earning: Service[Earning], privacy: Service[Privacy], principal: Caller,
                     resident_id: FromPath[int], data: JSONBody[PrivacyIn]) -> PrivacyOut:
        """Only the resident itself decides whether others see its name (setting the same
        choice again changes nothing: safe without a key)."""
        resident = await known_resident(earning, privacy, resident_id)
        principal.require_resident(resident["realm"], resident_id, resident["station_id"])
        changed = await privacy.set_name_public(resident, data.name_public)
        return PrivacyOut(resident_id, changed["name_public"])


class StarController(Controller):
    path = "/v1/realms/{realm:str}/star-thresholds"
    tags = ["recognition"]

    @get("/")
    async def read(self, recognition: Service[Recognition], principal: Caller, realm: FromPath[str]) -> ThresholdsOut:
        principal.require_realm(realm)
        return ThresholdsOut(realm, list(await recognition.thresholds(realm)))

    @put("/", guards=[roles("admin")], responses=problems(insight_errors.InvalidStarThresholds))
    async def change(self, recognition: Service[Recognition], principal: Caller, realm: FromPath[str],
                     data: JSONBody[ThresholdsIn]) -> ThresholdsOut:
        """The realm's five thresholds (a retry sets the same: safe without a key)."""
        principal.require(realm, "admin")
        return ThresholdsOut(realm, list(await recognition.set_thresholds(realm, data.hours)))


class StandingController(Controller):
    path = "/v1/residents/{resident_id:int}/recognition"
    tags = ["recognition"]

    @get("/", responses=problems(RESIDENT_LOOKUP))
    async def standing(self, earning: Service[Earning], privacy: Service[Privacy],
                       recognition: Service[Recognition], principal: Caller,
                       resident_id: FromPath[int]) -> StandingOut:
        """A resident's star level, hours to the next, and its 文明实践之星 awards."""
        resident = await known_resident(earning, privacy, resident_id)
        await check_resident_scope(earning, principal, resident["realm"], resident_id)
        level = await recognition.level(resident)
        awards = await recognition.list(resident["realm"], None, resident_id)
        return StandingOut(resident_id, level.hours, level.level, level.next_level_hours,
                           list(await recognition.thresholds(resident["realm"])),
                           [recognition_out(row, principal) for row in awards])


class RecognitionController(Controller):
    path = "/v1/recognitions"
    tags = ["recognition"]

    @post("/", status_code=201, guards=[roles("admin")],
          responses=problems(RESIDENT_LOOKUP, insight_errors.ResidentOutOfRealm, insight_errors.InvalidYear,
                             insight_errors.InvalidCitation, insight_errors.AlreadyRecognised))
    async def award(self, earning: Service[Earning], privacy: Service[Privacy], recognition: Service[Recognition],
                    principal: Caller, data: JSONBody[RecognitionIn],
                    idempotency_key: IdempotencyKey = None) -> Response[RecognitionOut]:
        """Name a resident 文明实践之星 of a year (once a year), with a citation."""
        principal.require(data.realm, "admin")
        key = required_idempotency_key(idempotency_key)
        resident = await known_resident(earning, privacy, data.resident_id)
        principal.require_realm(resident["realm"])
        if resident["realm"] != data.realm:
            raise insight_errors.ResidentOutOfRealm(f"no resident {data.resident_id} in realm {data.realm}")
        made, replayed = await recognition.award(resident, data.year, data.citation, principal.actor, key)
        row = {**made, "display_name": resident["display_name"], "name_public": resident["name_public"]}
        return replayable(recognition_out(row, principal), replayed)

    @get("/", guards=[roles(*STAFF, "resident")])
    async def list_recognitions(self, recognition: Service[Recognition], principal: Caller, realm: FromQuery[str],
                                year: FromQuery[int | None] = None) -> list[RecognitionOut]:
        """The realm's 文明实践之星 (residents see other awardees' names masked unless they opted in)."""
        principal.require(realm, *STAFF, "resident")
        rows = await recognition.list(realm, year, None)
        return [recognition_out(row, principal) for row in rows]

    @get("/{recognition_id:int}/certificate.pdf", media_type="application/pdf", guards=[per_token("render")],
         responses=problems(insight_errors.UnknownRecognition))
    async def certificate(self, recognition: Service[Recognition], principal: Caller,
                          recognition_id: FromPath[int]) -> Response[bytes]:
        found = await recognition.recognition(recognition_id)
        if principal.role == "resident":
            principal.require_resident(found["realm"], found["resident_id"], found["station_id"])
        else:
            principal.require(found["realm"], *STAFF)
        return Response(render.certificate_pdf(found), media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="star-{recognition_id}.pdf"'})


ROUTES = [PrivacyController, StarController, StandingController, RecognitionController]
