"""The service loop's services: each call owns one database transaction.

Scope (which token may touch which request) is checked twice: the route checks the
caller's realm and role before it calls; here every step checks its actor against the
locked request (`model.check_actor`), since only the locked row says who the volunteer is.
What the loop needs of other packages (the 志愿 rule's pay, the feedback a rating leaves)
the route passes in: `Pay`, and `on_confirmed`, run in the confirming transaction."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger import db, idempotency, paging
from ledger import errors as ledger_errors
from ledger import model as ledger_model
from ledger.paging import Page
from ledger.require import require
from ledger.service import Ledger
from orders import errors, model, repository

OnConfirmed = Callable[[AsyncConnection, dict[str, Any]], Awaitable[None]]
STATUSES = ("pending", "approved", "rejected")


@dataclass(frozen=True)
class Outcome:
    """A request after a step; `replayed` when the Idempotency-Key had already taken it."""
    request: dict[str, Any]
    replayed: bool = False


class Orders:
    def __init__(self, engine: AsyncEngine, ledger: Ledger) -> None:
        self.engine = engine
        self.ledger = ledger

    # settings --------------------------------------------------------------------------

    async def settings(self, realm: str) -> model.Settings:
        await self.ledger.realm(realm)
        return await db.read(self.engine, lambda conn: repository.settings(conn, realm))

    async def put_settings(self, realm: str, settings: model.Settings, by: str) -> model.Settings:
        settings = model.check_settings(settings)
        await self.ledger.realm(realm)
        await db.in_transaction(self.engine, lambda conn: repository.put_settings(conn, realm, settings, by))
        return settings

    # volunteers ------------------------------------------------------------------------

    async def apply(self, realm: str, resident_id: int, skills: list[str], station_ids: list[int],
                    availability: str | None) -> dict[str, Any]:
        """A resident applies (again, while not approved) to volunteer; an organizer approves."""
        async def work(conn: AsyncConnection) -> dict[str, Any]:
            settings = await repository.settings(conn, realm)
            checked = model.check_volunteer(skills, station_ids, availability, settings.skills)
            if await repository.find_resident(conn, realm, resident_id) is None:
                raise errors.InvalidVolunteer(f"no resident {resident_id} in realm {realm}")
            if await repository.existing_stations(conn, realm, checked[1]) != checked[1]:
                raise errors.InvalidVolunteer(f"every station served is one of realm {realm}")
            found = await repository.find_volunteer(conn, realm, resident_id, lock=True)
            if found is not None and found["status"] == "approved":
                raise errors.VolunteerExists("already an approved volunteer", resident_id=resident_id)
            await repository.put_volunteer(conn, realm, resident_id, *checked)
            return await _volunteer(conn, realm, resident_id)

        return await db.in_transaction(self.engine, work)

    async def decide(self, realm: str, resident_id: int, approve: bool, by: str) -> dict[str, Any]:
        """Approve or reject an application; approving twice answers the same."""
        status = "approved" if approve else "rejected"

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            found = await repository.find_volunteer(conn, realm, resident_id, lock=True)
            if found is None:
                raise errors.VolunteerNotFound(f"no volunteer {resident_id} in realm {realm}")
            if found["status"] != status:
                await repository.decide_volunteer(conn, realm, resident_id, status, by)
            return await _volunteer(conn, realm, resident_id)

        return await db.in_transaction(self.engine, work)

    async def volunteer(self, realm: str, resident_id: int) -> dict[str, Any]:
        found = await db.read(self.engine, lambda conn: repository.find_volunteer(conn, realm, resident_id))
        if found is None:
            raise errors.VolunteerNotFound(f"no volunteer {resident_id} in realm {realm}")
        return found

    async def volunteers(self, realm: str, status: str | None, station_id: int | None,
                         cursor: str | None, limit: int | None) -> Page:
        if status is not None and status not in STATUSES:
            raise ledger_errors.InvalidInput(f"status is one of {', '.join(STATUSES)}")
        after, size = model.VOLUNTEERS.decode(cursor) or 0, paging.check_page_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.volunteers_page(
            conn, realm, status, station_id, after, paging.fetch_size(size)))
        return paging.page_of(rows, size, model.VOLUNTEERS.after("resident_id"))

    # service requests ------------------------------------------------------------------

    async def create(self, realm: str, new: model.NewRequest, actor: model.Actor, key: str) -> Outcome:
        """点单: a new open request, once per Idempotency-Key."""
        idempotency.check_key(key)
        fingerprint = new.request_hash()

        async def work(conn: AsyncConnection) -> Outcome:
            await repository.lock_key(conn, realm, key)
            replayed = await _replay(conn, realm, key, fingerprint)
            if replayed is not None:
                return replayed
            checked = model.check_new_request(new, (await repository.settings(conn, realm)).skills)
            resident = await repository.find_resident(conn, realm, checked.requester_id)
            if resident is None:
                raise errors.InvalidServiceRequest(f"no resident {checked.requester_id} in realm {realm}")
            if await repository.existing_stations(conn, realm, [checked.station_id]) != [checked.station_id]:
                raise errors.InvalidServiceRequest(f"no station {checked.station_id} in realm {realm}")
            row = await repository.insert_request(conn, realm, checked, actor.label)
            await repository.insert_step(conn, realm, key, row["id"], "create", fingerprint, actor.label)
            return Outcome(row)

        return await db.in_transaction(self.engine, work)

    async def request(self, request_id: int) -> dict[str, Any]:
        found = await db.read(self.engine, lambda conn: repository.find_request(conn, request_id))
        if found is None:
            raise errors.ServiceRequestNotFound(f"no service request {request_id}")
        return found

    async def awards(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        return await db.read(self.engine, lambda conn: repository.awards_of(conn, request["realm"], request["id"]))

    async def take(self, request_id: int, step: model.Step, actor: model.Actor, key: str | None,
                   pay: model.Pay | None = None, on_confirmed: OnConfirmed | None = None) -> Outcome:
        """One step of a request (`model.STEPS`), in one transaction under the request's
        row lock: the actor, the state and what the step carries are checked, the row
        moves by a guarded UPDATE, and `confirm` pays through the ledger (once: the
        database refuses a second award). A retry under the same key replays."""
        require(step.name in model.STEPS, "a known step")
        idempotency.check_key(key)
        request = await self.request(request_id)
        realm = request["realm"]
        fingerprint = step.request_hash(request_id)

        async def work(conn: AsyncConnection) -> Outcome:
            if key is not None:
                await repository.lock_key(conn, realm, key)
                replayed = await _replay(conn, realm, key, fingerprint)
                if replayed is not None:
                    return replayed
            locked = await repository.lock_request(conn, realm, request_id)
            require(locked is not None, "a request just read is there")
            checked = await _checked_step(conn, step, actor, locked)
            moved = await repository.move_request(conn, realm, request_id, checked, actor.label)
            require(moved is not None, "a locked request in a source state moves")
            if step.name == "confirm":
                if pay is None:   # the caller read the request before it was done
                    raise errors.RequestNotDone("confirm a request once it is done")
                await self._pay(conn, moved, pay, actor)
                if on_confirmed is not None and moved["rating"] is not None:
                    await on_confirmed(conn, moved)
            if key is not None:
                await repository.insert_step(conn, realm, key, request_id, step.name, fingerprint, actor.label)
            return Outcome(moved)

        return await db.in_transaction(self.engine, work)

    async def _pay(self, conn: AsyncConnection, request: dict[str, Any], pay: model.Pay,
                   actor: model.Actor) -> None:
        """The volunteer by the 志愿 rule, never past what its daily cap leaves on the day
        the service was done; the requester, who rated, the realm's reward; both `earn`
        entries from the realm's budget of the rule's asset.

        The budget's and the payees' accounts are locked first, in (realm, id) order as
        posting locks them, and only then is the day's sum read: another confirmation or
        an attendance chunk paying the volunteer waits here, so the cap holds however
        many pay at once. A volunteer the cap leaves nothing gets no award (the request
        is confirmed all the same; the rating reward still pays)."""
        realm, volunteer_id, requester_id = request["realm"], request["volunteer_id"], request["requester_id"]
        budget = await repository.budget_account(conn, realm, pay.asset)
        require(budget is not None, "every realm has a budget account per asset")
        payees = [volunteer_id] + ([requester_id] if request["rating"] is not None else [])
        accounts = {resident_id: await repository.resident_account(conn, realm, resident_id, pay.asset)
                    for resident_id in payees}
        require(None not in accounts.values(), "every resident has an account per asset")
        await self.ledger.lock_in(conn, realm, [budget, *accounts.values()])
        day, earned = await repository.day_earned(conn, realm, request["id"], volunteer_id, pay.activity_type)
        points = model.volunteer_points(pay, earned)
        if points > 0:
            entry = await self._earn(conn, request, "volunteer", budget, accounts[volunteer_id], points, actor)
            await repository.insert_award(conn, realm, request["id"], "volunteer", volunteer_id, entry["id"],
                                          pay.asset, points, pay, day)
        reward = (await repository.settings(conn, realm)).rating_reward_points
        if request["rating"] is not None and reward > 0:
            entry = await self._earn(conn, request, "rating", budget, accounts[requester_id], reward, actor)
            await repository.insert_award(conn, realm, request["id"], "rating", requester_id, entry["id"],
                                          pay.asset, reward)

    async def _earn(self, conn: AsyncConnection, request: dict[str, Any], kind: str, budget: int, account: int,
                    points: int, actor: model.Actor) -> dict[str, Any]:
        """One `earn` entry of a confirmation, from the budget to a payee's account."""
        return await self.ledger.post_in(conn, ledger_model.EntryDraft(
            realm=request["realm"], kind="earn", created_by=actor.label,
            idempotency_key=f"service-request:{request['id']}:{kind}",
            reference=f"service_request:{request['id']}",
            memo=f"service request {request['id']}: {request['category']} ({kind})",
            lines=(ledger_model.Line(budget, -points), ledger_model.Line(account, points))))

    async def requests(self, realm: str, role: str, resident_id: int | None, station_id: int | None,
                       cursor: str | None, limit: int | None) -> Page:
        before, size = model.REQUESTS.decode(cursor), paging.check_page_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.requests_page(
            conn, realm, role, resident_id, station_id, before, paging.fetch_size(size)))
        return paging.page_of(rows, size, model.REQUESTS.after("id"))

    async def queue(self, realm: str, station_id: int | None, cursor: str | None,
                    limit: int | None) -> Page:
        """The dispatch queue (open requests, most urgent then oldest first), each with up
        to SUGGESTIONS_PER_REQUEST suggested volunteers."""
        after, size = model.decode_queue_cursor(cursor), model.check_queue_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.queue(
            conn, realm, station_id, after, paging.fetch_size(size), model.SUGGESTIONS_PER_REQUEST + 1))
        rows = [{**row, "suggestions": row["suggestions"][:model.SUGGESTIONS_PER_REQUEST]} for row in rows]
        return paging.page_of(rows, size, model.queue_cursor)

    # background jobs -------------------------------------------------------------------

    async def time_out_dispatches(self, timeout_s: float) -> list[dict[str, Any]]:
        before = model.timed_out_before(datetime.now(timezone.utc), timeout_s)
        return await db.in_transaction(self.engine, lambda conn: repository.time_out_dispatches(
            conn, before, model.JOB_BATCH_MAX))

    async def flag_overdue(self) -> list[dict[str, Any]]:
        now = datetime.now(timezone.utc)
        return await db.in_transaction(self.engine, lambda conn: repository.flag_overdue(
            conn, now, model.JOB_BATCH_MAX))

    async def due_confirmations(self, after_s: float) -> list[dict[str, Any]]:
        before = model.timed_out_before(datetime.now(timezone.utc), after_s)
        return await db.read(self.engine, lambda conn: repository.due_confirmations(
            conn, before, model.JOB_BATCH_MAX))


async def _checked_step(conn: AsyncConnection, step: model.Step, actor: model.Actor,
                        request: dict[str, Any]) -> model.Step:
    """The step with what it carries checked against the locked request."""
    model.check_actor(step.name, actor, request)
    model.check_transition(step.name, request["state"])
    if step.name == "dispatch":
        require(step.volunteer_id is not None, "a dispatch names its volunteer")
        volunteer = await repository.find_volunteer(conn, request["realm"], step.volunteer_id)
        model.check_dispatch_target(volunteer, request["realm"], request["requester_id"], step.volunteer_id)
    if step.name == "done":
        model.check_minutes(step.minutes, request)
    if step.name == "confirm":
        return replace(step, rating=model.check_rating(step.rating), comment=model.check_comment(step.comment))
    return step


async def _replay(conn: AsyncConnection, realm: str, key: str, request: bytes) -> Outcome | None:
    """The first answer under `key` (the request as it is now), replayed; None when the
    key is new; a key kept for another step or request is refused (`ledger.idempotency`)."""
    first = idempotency.replay(await repository.find_step(conn, realm, key), request, "another step")
    if first is None:
        return None
    found = await repository.find_request(conn, first["request_id"])
    require(found is not None, "a stored step names its request")
    return Outcome(found, replayed=True)


async def _volunteer(conn: AsyncConnection, realm: str, resident_id: int) -> dict[str, Any]:
    found = await repository.find_volunteer(conn, realm, resident_id)
    require(found is not None, "a volunteer just written is found")
    return found
