"""What the service loop needs of earning and feedback, composed here (orders and
feedback never import each other, nor earning): the volunteer's pay by the realm's 志愿
rule, the rating a confirmation leaves, and the loop's background jobs."""
from __future__ import annotations

import logging
from typing import Any

from earning import model as earning_model
from earning.service import Earning
from feedback.service import Feedback
from ledger import errors
from orders import model as orders_model
from orders.service import OnConfirmed, Orders, Outcome

log = logging.getLogger(__name__)

VOLUNTEER_ACTIVITY_TYPE = "volunteering"   # 志愿服务: the rule a service request pays by


async def volunteer_pay(earning: Earning, realm: str, minutes: int | None) -> orders_model.Pay | None:
    """The realm's current 志愿 rule as confirming pays by it: its points for `minutes` of
    service (base points, per full hour up to the creditable maximum) and its daily cap,
    which `orders` applies in the confirming transaction, after locking the volunteer's
    account, against what the volunteer earned under the rule that day; None before the
    request is done."""
    if minutes is None:
        return None
    found = await earning.activity_type(realm, VOLUNTEER_ACTIVITY_TYPE)
    rule = earning_model.Rule(found["asset"], found["base_points"], found["points_per_hour"],
                              found["creditable_minutes_max"], found["daily_cap_points"], found["version"])
    return pay_by(rule, VOLUNTEER_ACTIVITY_TYPE, minutes)


def pay_by(rule: earning_model.Rule, activity_type: str, minutes: int) -> orders_model.Pay:
    """`rule` (of `activity_type`) as orders pays by it: its formula for `minutes`, its cap."""
    return orders_model.Pay(rule.asset, earning_model.award_points(rule, minutes), rule.daily_cap_points,
                            activity_type, rule.version)


async def rating_hook(orders: Orders, feedback: Feedback, realm: str) -> OnConfirmed:
    """Counts a confirmation's rating in the confirming transaction (feedback's averages and alerts)."""
    ratings_min = (await orders.settings(realm)).alert_ratings_min

    async def on_confirmed(conn: Any, request: dict[str, Any]) -> None:
        await feedback.rate_request_in(conn, request, ratings_min)

    return on_confirmed


async def confirm(orders: Orders, earning: Earning, feedback: Feedback, request: dict[str, Any],
                  step: orders_model.Step, actor: orders_model.Actor, key: str | None) -> Outcome:
    pay = await volunteer_pay(earning, request["realm"], request["minutes"])
    hook = await rating_hook(orders, feedback, request["realm"])
    return await orders.take(request["id"], step, actor, key, pay=pay, on_confirmed=hook)


# background jobs -----------------------------------------------------------------------

class ServiceJobs:
    """The loop's periodic work: dispatches not accepted in time go back to the queue;
    requests past their window are flagged; requests done long ago are confirmed."""

    def __init__(self, services: Any, dispatch_timeout_s: float, auto_confirm_s: float) -> None:
        self.orders: Orders = services.orders
        self.earning: Earning = services.earning
        self.feedback: Feedback = services.feedback
        self.dispatch_timeout_s = dispatch_timeout_s
        self.auto_confirm_s = auto_confirm_s

    async def return_timed_out(self) -> list[dict[str, Any]]:
        return await self.orders.time_out_dispatches(self.dispatch_timeout_s)

    async def flag_overdue(self) -> list[dict[str, Any]]:
        return await self.orders.flag_overdue()

    async def auto_confirm(self) -> list[int]:
        """Confirm (without a rating) what was done `auto_confirm_s` ago and never confirmed;
        a request the budget cannot pay yet stays done, for the next round."""
        confirmed = []
        for request in await self.orders.due_confirmations(self.auto_confirm_s):
            try:
                await confirm(self.orders, self.earning, self.feedback, request, orders_model.Step("confirm"),
                              orders_model.SYSTEM, None)
                confirmed.append(request["id"])
            except errors.DomainError as exc:
                log.warning("auto-confirm of service request %s refused: %s", request["id"], exc.code)
        return confirmed
