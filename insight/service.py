"""Insight's services: indicator reports read from the rollups (kept current by triggers
in the transactions that change the book, so a report reads only rollup rows), the
budget.low notice, residents' name opt-in, star levels and 文明实践之星."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from insight import errors, model, repository
from ledger import db, idempotency

BUDGET_LOW_MONTHS = 2.0          # budget.low: the budget lasts under this many months at the current rate


def realm_today(timezone_name: str | None) -> date:
    return datetime.now(ZoneInfo(timezone_name or "Asia/Shanghai")).date()


class Indicators:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def report(self, realm: str, level: str, first: str | None, last: str | None,
                     today: date | None = None) -> dict[str, Any]:
        """Rows per place of `level` and month, and the realm's budget burn-down."""
        model.check_level(level)
        months = model.month_range(first, last, today or realm_today(None))

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            places = await repository.places(conn, realm, level)
            figures = await repository.figures(conn, realm, level, months[0], months[-1])
            before = await repository.registered_before(conn, realm, level, months[0])
            return {"realm": realm, "level": level, "from": months[0].strftime("%Y-%m"),
                    "to": months[-1].strftime("%Y-%m"),
                    "rows": model.indicator_rows(months, places, figures, before),
                    "budgets": await self._budgets(conn, realm, months, today or realm_today(None))}
        return await db.read(self.engine, work)

    async def _budgets(self, conn: AsyncConnection, realm: str, months: list[date], today: date) -> list[dict[str, Any]]:
        """Per asset: remaining now, at the end of each month, burn per month, months left."""
        this_month = today.replace(day=1)
        rate_months = [model.add_months(this_month, -i) for i in range(model.BURN_RATE_MONTHS, 0, -1)]
        earned = await repository.monthly_earned(conn, realm, min(months[0], rate_months[0]), max(months[-1], this_month))
        month_ends = [model.add_months(month, 1) for month in months if model.add_months(month, 1) <= this_month]
        past = await repository.balances_before(conn, realm, month_ends) if month_ends else {}
        out = []
        for budget in await repository.budgets(conn, realm):
            asset = budget["asset"]
            trend = []
            for month in months:
                following = model.add_months(month, 1)
                remaining = past.get((asset, following), budget["balance"])
                trend.append({"month": month.strftime("%Y-%m"), "remaining": remaining,
                              "burned": earned.get((month, asset), 0)})
            burn = [earned.get((month, asset), 0) for month in rate_months]
            out.append({"asset": asset, "remaining": budget["balance"], "monthly_burn": burn,
                        "months_left": model.months_left(budget["balance"], burn), "trend": trend})
        return out

    async def emit_budget_low(self, today: date | None = None) -> int:
        """budget.low for each realm's budget under BUDGET_LOW_MONTHS at the current rate,
        once per asset and month (its dedup key)."""
        made = 0
        realms = await db.read(self.engine, repository.realms_with_budgets)
        for realm in realms:
            report_day = today or realm_today(None)
            this_month = report_day.replace(day=1)

            async def work(conn: AsyncConnection, realm: str = realm) -> int:
                count = 0
                for budget in await self._budgets(conn, realm, [this_month], report_day):
                    left = budget["months_left"]
                    if left is not None and left < BUDGET_LOW_MONTHS:
                        key = f"budget.low:{budget['asset']}:{this_month:%Y-%m}"
                        payload = {"asset": budget["asset"], "remaining": budget["remaining"], "months": left}
                        count += await repository.emit(conn, realm, "budget.low", None, payload, key) is not None
                return count
            made += await db.in_transaction(self.engine, work)
        return made


class Privacy:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def resident(self, resident_id: int) -> dict[str, Any]:
        found = await db.read(self.engine, lambda conn: repository.resident(conn, resident_id))
        if found is None:
            raise errors.UnknownResident(f"no resident {resident_id}")
        return found

    async def set_name_public(self, resident: dict[str, Any], public: bool) -> dict[str, Any]:
        await db.in_transaction(self.engine, lambda conn: repository.set_name_public(
            conn, resident["realm"], resident["id"], public))
        return {**resident, "name_public": public}

    async def names(self, realm: str, resident_ids: list[int]) -> dict[int, dict[str, Any]]:
        if not resident_ids:
            return {}
        return await db.read(self.engine, lambda conn: repository.names(conn, realm, resident_ids))


class Recognition:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def thresholds(self, realm: str) -> tuple[int, ...]:
        found = await db.read(self.engine, lambda conn: repository.thresholds(conn, realm))
        return found or model.DEFAULT_STAR_HOURS

    async def set_thresholds(self, realm: str, hours: list[int]) -> tuple[int, ...]:
        checked = model.check_thresholds(hours)
        await db.in_transaction(self.engine, lambda conn: repository.set_thresholds(conn, realm, checked))
        return checked

    async def level(self, resident: dict[str, Any]) -> model.StarLevel:
        minutes = await db.read(self.engine, lambda conn: repository.volunteer_minutes(
            conn, resident["realm"], resident["id"]))
        return model.star_level(minutes / model.MINUTES_PER_HOUR, await self.thresholds(resident["realm"]))

    async def award(self, resident: dict[str, Any], year: int, citation: str, created_by: str,
                    key: str) -> tuple[dict[str, Any], bool]:
        """Name a resident 文明实践之星 of `year` (once per year), with its inbox notice in
        the same transaction. (recognition, replayed)."""
        year = model.check_year(year, datetime.now(timezone.utc).year)
        citation = model.check_citation(citation)
        realm = resident["realm"]
        request_hash = idempotency.request_hash([resident["id"], year, citation])

        async def work(conn: AsyncConnection) -> tuple[dict[str, Any], bool]:
            known = await repository.recognition_by_key(conn, realm, key)
            if known is not None:
                idempotency.check_same_request(known.pop("request_hash"), request_hash, "another award")
                return known, True
            made = await repository.insert_recognition(conn, realm, resident["id"], year, model.RECOGNITION_TITLE,
                                                       citation, key, request_hash, created_by)
            if made is None:
                raise errors.AlreadyRecognised(f"resident {resident['id']} is already {model.RECOGNITION_TITLE} "
                                               f"of {year}")
            await repository.emit(conn, realm, "recognition.awarded", resident["id"],
                                  {"title": model.RECOGNITION_TITLE, "year": year, "recognition_id": made["id"]},
                                  None, subject_id=made["id"])
            return made, False
        return await db.in_transaction(self.engine, work)

    async def recognition(self, recognition_id: int) -> dict[str, Any]:
        found = await db.read(self.engine, lambda conn: repository.recognition(conn, recognition_id))
        if found is None:
            raise errors.UnknownRecognition(f"no recognition {recognition_id}")
        return found

    async def list(self, realm: str, year: int | None, resident_id: int | None) -> list[dict[str, Any]]:
        return await db.read(self.engine, lambda conn: repository.recognitions(
            conn, realm, year, resident_id, model.RECOGNITIONS_PAGE_MAX))
