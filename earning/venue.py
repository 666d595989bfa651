"""The venue: sign-ups (capacity, waitlist), check-in and check-out, and closing an
activity, which awards attendance through the ordinary attendance path. Each call owns
one database transaction and takes the activity's row lock first, so sign-ups,
cancellations and closing of one activity take turns (the database's
`activities_capacity` constraint holds the capacity whatever the caller does).

Times come from an injectable clock (tests move it; nobody sleeps)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import secrets
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from earning import errors, model, repository
from earning.service import attendance_outcome, attendance_request
from ledger import db, idempotency
from ledger.cache import BoundedCache
from ledger.require import require

CHECKIN_SECRET = "checkin_codes"      # realm_secrets purpose
SECRET_BYTES = 32
REALM_SECRETS_CACHED_MAX = 10_000     # realms whose check-in key this process keeps
CLOSE_BATCH_MAX = 100                 # activities the background job closes per round


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Venue:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.clock = clock
        self._secrets: BoundedCache[str, bytes] = BoundedCache(REALM_SECRETS_CACHED_MAX)

    async def _locked(self, conn: AsyncConnection, activity: dict[str, Any]) -> dict[str, Any]:
        locked = await repository.lock_activity(conn, activity["realm"], activity["id"])
        if locked is None:
            raise errors.ActivityNotFound(f"no activity {activity['id']}")
        return locked

    async def _resident_of(self, conn: AsyncConnection, realm: str, resident_id: int) -> dict[str, Any]:
        resident = await repository.find_resident(conn, resident_id)
        if resident is None or resident["realm"] != realm:
            raise errors.UnknownResident(f"no resident {resident_id} in realm {realm}", resident_id=resident_id)
        return resident

    # sign-ups --------------------------------------------------------------------------

    async def sign_up(self, activity: dict[str, Any], resident_id: int, created_by: str) -> dict[str, Any]:
        """A seat if one is free, else the waitlist, else `activity_full`. Signing up
        again while signed up answers the same sign-up."""
        now = self.clock()

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            locked = await self._locked(conn, activity)
            await self._resident_of(conn, locked["realm"], resident_id)
            existing = await repository.find_signup(conn, locked["realm"], locked["id"], resident_id)
            if existing is not None and existing["status"] != "cancelled":
                return await self._with_place(conn, existing)
            if locked["status"] != "published":
                raise errors.ActivityNotOpen(f"this activity is {locked['status']}", activity_id=locked["id"])
            if not model.signup_open(locked, now):
                raise errors.SignupClosed("sign-up for this activity is not open now", activity_id=locked["id"])
            waitlisted = await repository.waitlisted_count(conn, locked["realm"], locked["id"])
            status = model.signup_place(locked, waitlisted)
            made = await repository.put_signup(conn, locked["realm"], locked["id"], resident_id, status, created_by)
            return await self._with_place(conn, made)

        return await db.in_transaction(self.engine, work)

    async def cancel_signup(self, activity: dict[str, Any], resident_id: int) -> dict[str, Any]:
        """Cancel; a freed seat goes to the first on the waitlist, in the same transaction."""
        async def work(conn: AsyncConnection) -> dict[str, Any]:
            locked = await self._locked(conn, activity)
            existing = await repository.find_signup(conn, locked["realm"], locked["id"], resident_id)
            if existing is None or existing["status"] == "cancelled":
                raise errors.SignupNotFound(f"resident {resident_id} is not signed up", resident_id=resident_id)
            if locked["status"] == "closed":
                raise errors.ActivityClosed("this activity is closed", activity_id=locked["id"])
            cancelled = await repository.set_signup_status(conn, locked["realm"], locked["id"], resident_id,
                                                           "cancelled")
            promoted = None
            if existing["status"] == "confirmed":
                promoted = await repository.first_waitlisted(conn, locked["realm"], locked["id"])
                if promoted is not None:
                    await repository.set_signup_status(conn, locked["realm"], locked["id"], promoted, "confirmed")
            return {**cancelled, "waitlist_place": None, "promoted_resident_id": promoted}

        return await db.in_transaction(self.engine, work)

    async def signups(self, activity: dict[str, Any]) -> list[dict[str, Any]]:
        return await db.read(self.engine, lambda conn: repository.signups(conn, activity["realm"], activity["id"]))

    async def _with_place(self, conn: AsyncConnection, signup: dict[str, Any]) -> dict[str, Any]:
        place = None
        if signup["status"] == "waitlisted":
            place = 1 + await repository.waitlisted_count(conn, signup["realm"], signup["activity_id"],
                                                          signup["position"])
        return {**signup, "waitlist_place": place, "promoted_resident_id": None}

    # signed codes ----------------------------------------------------------------------

    async def _secret(self, realm: str) -> bytes:
        """The realm's check-in key (made at first use, stored in the database, never in
        the repository); kept in process: it never changes."""
        async def load() -> bytes:
            fresh = secrets.token_bytes(SECRET_BYTES)
            return await db.in_transaction(self.engine, lambda conn: repository.realm_secret(
                conn, realm, CHECKIN_SECRET, fresh))

        return await self._secrets.get_or_load(realm, load)

    async def venue_code(self, activity: dict[str, Any]) -> dict[str, Any]:
        """The desk's code for now: valid for this 30-second step and the next."""
        now = self.clock()
        model.check_in_window(activity, now)
        if activity["status"] != "published":
            raise errors.ActivityNotOpen(f"this activity is {activity['status']}", activity_id=activity["id"])
        code = model.sign_code(await self._secret(activity["realm"]), model.VENUE_CODE, activity["id"], now)
        return {"activity_id": activity["id"], "code": code, "refresh_s": model.CHECKIN_CODE_STEP_S,
                "expires_at": model.step_ends_at(model.code_step(now) + 1)}

    async def personal_code(self, resident: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        code = model.sign_code(await self._secret(resident["realm"]), model.PERSONAL_CODE, resident["id"], now)
        return {"resident_id": resident["id"], "code": code, "refresh_s": model.CHECKIN_CODE_STEP_S,
                "expires_at": model.step_ends_at(model.code_step(now) + 1)}

    async def activity_of_code(self, code: str) -> tuple[int, model.SignedCode]:
        """The activity a desk's code names (not yet checked: the realm's key is needed)."""
        parsed = model.parse_code(code, model.VENUE_CODE)
        return parsed.subject_id, parsed

    async def check_venue_code(self, activity: dict[str, Any], parsed: model.SignedCode) -> None:
        model.check_code(await self._secret(activity["realm"]), parsed, self.clock())

    async def resident_of_code(self, activity: dict[str, Any], typed: str) -> int:
        """A resident's personal signed code, or the resident's own code typed by hand
        (people without phones), within the activity's realm."""
        if typed.strip().startswith(model.PERSONAL_CODE + "."):
            parsed = model.parse_code(typed, model.PERSONAL_CODE)
            model.check_code(await self._secret(activity["realm"]), parsed, self.clock())
            return parsed.subject_id
        found = await db.read(self.engine, lambda conn: repository.find_resident_by_code(
            conn, activity["realm"], typed.strip()))
        if found is None:
            raise errors.UnknownResident("no resident with this code here", realm=activity["realm"])
        return found["id"]

    # check-in and out ------------------------------------------------------------------

    async def check_in_or_out(self, activity: dict[str, Any], resident_id: int, by: str,
                              direction: str | None = None) -> dict[str, Any]:
        """The first scan checks in, the second checks out; refused (nothing changed)
        outside the window, for another realm's resident, or twice the same way."""
        now = self.clock()

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            shared = await repository.share_activity(conn, activity["realm"], activity["id"])
            require(shared is not None, "a checked-in activity exists")
            resident = await repository.find_resident(conn, resident_id)
            if resident is None or resident["realm"] != shared["realm"]:
                raise errors.CheckinOtherRealm("this resident does not belong to the activity's realm",
                                               resident_id=resident_id)
            if shared["status"] != "published":
                raise errors.ActivityNotOpen(f"this activity is {shared['status']}", activity_id=shared["id"])
            model.check_in_window(shared, now)
            existing = await repository.lock_checkin(conn, shared["realm"], shared["id"], resident_id)
            action = model.checkin_action(existing, direction, now)
            if action == "in":
                row = await repository.insert_checkin(conn, shared["realm"], shared["id"], resident_id, now, by)
                if row is None:
                    raise errors.AlreadyCheckedIn("already checked in; scan again when leaving")
            else:
                row = await repository.check_out(conn, shared["realm"], shared["id"], resident_id, now, by)
            return {**_checkin_view(row, shared), "action": action, "title": shared["title"]}

        return await db.in_transaction(self.engine, work)

    async def checkins(self, activity: dict[str, Any]) -> list[dict[str, Any]]:
        rows = await db.read(self.engine, lambda conn: repository.checkins(conn, activity["realm"], activity["id"]))
        return [_checkin_view(row, activity) for row in rows]

    # closing ---------------------------------------------------------------------------

    async def close(self, activity: dict[str, Any], by: str) -> dict[str, Any]:
        """Close and award the checked-out through the attendance path, exactly once:
        the activity's row lock makes a second close (or the background job) wait, then
        answer the first summary. Check-ins without a check-out are listed, not paid."""
        now = self.clock()

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            locked = await self._locked(conn, activity)
            if locked["status"] == "closed":
                return idempotency.replayed(locked["close_summary"])
            if locked["status"] != "published":
                raise errors.ActivityNotOpen(f"this activity is {locked['status']}", activity_id=locked["id"])
            if locked["starts_at"] > now:
                raise errors.ActivityNotStarted("an activity is closed once it has started",
                                                activity_id=locked["id"])
            summary = await self._award_checkins(conn, locked, by)
            await repository.close_activity(conn, locked["realm"], locked["id"], now, summary)
            return idempotency.fresh(summary)

        return await db.in_transaction(self.engine, work)

    async def _award_checkins(self, conn: AsyncConnection, activity: dict[str, Any], by: str) -> dict[str, Any]:
        rows = [_checkin_view(row, activity) for row in await repository.checkins(
            conn, activity["realm"], activity["id"])]
        paid = [(row["resident_id"], row["minutes"]) for row in rows
                if row["checked_out_at"] is not None and row["minutes"] >= 1]
        results: list[dict[str, Any]] = []
        if paid:
            request = attendance_request(activity, paid, by, f"close:{activity['id']}")
            stored = await repository.record_attendance(conn, request)
            names = {row["resident_id"]: (row["display_name"], row["code"]) for row in rows}
            results = [{**result, "display_name": names[result["resident_id"]][0],
                        "code": names[result["resident_id"]][1]}
                       for result in attendance_outcome(activity["id"], request, stored).results]
        awarded = [r for r in results if "error" not in r]
        return {"activity_id": activity["id"], "title": activity["title"],
                "awarded": len(awarded), "points": sum(r["points"] for r in awarded),
                "results": results,
                "no_checkout": [_listed(row) for row in rows if row["checked_out_at"] is None],
                "too_short": [_listed(row) for row in rows
                              if row["checked_out_at"] is not None and row["minutes"] < 1]}

    async def close_ended(self, realm: str | None = None) -> list[dict[str, Any]]:
        """The background job: close every published activity (of `realm`, or of every
        realm) ended more than the grace period ago, each in its own transaction; what
        fails is left for the next round."""
        before = self.clock() - timedelta(seconds=model.CLOSE_GRACE_S)
        due = await db.read(self.engine, lambda conn: repository.ended_activities(
            conn, realm, before, CLOSE_BATCH_MAX))
        return [await self.close(activity, "system:close") for activity in due]


def _checkin_view(row: dict[str, Any], activity: dict[str, Any]) -> dict[str, Any]:
    minutes = (model.attended_minutes(row["checked_in_at"], row["checked_out_at"], activity["starts_at"],
                                      activity["ends_at"]) if row["checked_out_at"] is not None else None)
    return {"activity_id": activity["id"], "resident_id": row["resident_id"], "code": row.get("code"),
            "display_name": row.get("display_name"), "checked_in_at": row["checked_in_at"],
            "checked_out_at": row["checked_out_at"], "minutes": minutes}


def _listed(row: dict[str, Any]) -> dict[str, Any]:
    return {"resident_id": row["resident_id"], "code": row["code"], "display_name": row["display_name"],
            "checked_in_at": row["checked_in_at"].isoformat()}
