"""Helpers for tests that pay volunteers through the service loop: a request done by a
volunteer on a chosen realm day, and its confirmation (by the system, without a rating)."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import text

from orders import model
from orders.service import Orders

WINDOW_H = 24          # a request's wanted window: room for any minutes up to a day


async def approve(orders: Orders, realm: str, resident_id: int, *station_ids: int) -> None:
    await orders.apply(realm, resident_id, ["助老"], list(station_ids), None)
    await orders.decide(realm, resident_id, True, "organizer:test")


async def done_request(orders: Orders, realm: str, station_id: int, requester: int, volunteer: int,
                       minutes: int, done_at: datetime | None = None) -> dict:
    """A request of `requester` dispatched to `volunteer` (approved), accepted and done in
    `minutes`; its `done_at` (the day its pay counts on) moved to `done_at` when given."""
    starts = datetime.now(timezone.utc) + timedelta(hours=1)
    new = model.NewRequest(requester, station_id, "助老", "帮忙买菜", starts, starts + timedelta(hours=WINDOW_H))
    request = (await orders.create(realm, new, model.SYSTEM, f"create-{uuid.uuid4()}")).request
    for step in (model.Step("dispatch", volunteer_id=volunteer), model.Step("accept"),
                 model.Step("done", minutes=minutes)):
        request = (await orders.take(request["id"], step, model.SYSTEM, None)).request
    if done_at is not None:
        async with orders.engine.begin() as conn:
            await conn.execute(text("UPDATE service_requests SET done_at = :at WHERE realm = :realm AND id = :id"),
                               {"at": done_at, "realm": realm, "id": request["id"]})
        request = await orders.request(request["id"])
    return request


async def confirm(orders: Orders, request: dict, pay: model.Pay) -> int:
    """Confirm `request`; what it paid the volunteer (0: no volunteer award)."""
    await orders.take(request["id"], model.Step("confirm"), model.SYSTEM, None, pay=pay)
    return sum(award["points"] for award in await orders.awards(request) if award["kind"] == "volunteer")
