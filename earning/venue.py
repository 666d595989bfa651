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

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from earning import errors, model, repository
from ledger import db


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Venue:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.clock = clock

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
