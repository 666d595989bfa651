"""Indicators (issue 16 item 1): per realm, town, station or urban/rural, per month, as
JSON, CSV (UTF-8 with a BOM) or XLSX. Counts, never people. Admins and auditors of the
realm read them; an organizer reads its realm's (a station organizer: its station's rows)."""
from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Response, get
from litestar.params import FromQuery, QueryParameter

from api.auth import roles
from api.errors import problems
from api.routes.common import Caller, Service
from insight import errors, model, render
from insight.service import Indicators

READERS = ("admin", "auditor", "organizer")
MEDIA = {"csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


class IndicatorRow(msgspec.Struct):
    place: str
    place_name: str
    month: str
    registered: int
    active: int
    participation_rate: float | None
    volunteer_hours: float
    hours: float
    activities_held: int
    earned: int
    earned_civic: int
    earned_agri: int
    spent: int
    spent_general: int
    spent_agri_shop: int
    spent_service_provider: int
    agri_share: float | None
    rating_activities: float | None
    ratings_activities: int
    rating_requests: float | None       # null until the service-request ratings feed the rollup
    ratings_requests: int
    requests_opened: int
    requests_completed: int
    hours_to_complete: float | None


class BudgetMonth(msgspec.Struct):
    month: str
    remaining: int
    burned: int


class BudgetBurn(msgspec.Struct):
    asset: str
    remaining: int
    monthly_burn: list[int]           # the last three whole months
    months_left: float | None         # at their mean rate; null: nothing burned
    trend: list[BudgetMonth]


class IndicatorReport(msgspec.Struct):
    realm: str
    level: str
    from_month: str = msgspec.field(name="from")
    to_month: str = msgspec.field(name="to")
    rows: list[IndicatorRow] = msgspec.field(default_factory=list)
    budgets: list[BudgetBurn] = msgspec.field(default_factory=list)


class IndicatorController(Controller):
    path = "/v1/reports/indicators"
    tags = ["reports"]

    @get("/", guards=[roles(*READERS)],
         responses=problems(errors.InvalidIndicatorLevel, errors.InvalidMonth, errors.MonthRangeTooLong,
                            errors.InvalidReportFormat))
    async def indicators(self, indicators: Service[Indicators], principal: Caller, realm: FromQuery[str],
                         level: FromQuery[str] = "realm",
                         from_month: Annotated[str | None, QueryParameter(name="from")] = None,
                         to_month: Annotated[str | None, QueryParameter(name="to")] = None,
                         format: FromQuery[str] = "json") -> Response[IndicatorReport]:
        """Participation, hours, activities, points earned and spent (by merchant kind, the
        agri share), satisfaction, service requests, and the budget's burn-down. `from` and
        `to` are months (YYYY-MM; default: the last 12); `format` json (this schema), csv
        (text/csv, UTF-8 with a BOM) or xlsx (the same rows as a spreadsheet)."""
        principal.require(realm, *READERS)
        if format not in model.FORMATS:
            raise errors.InvalidReportFormat(f"format is one of {', '.join(model.FORMATS)}")
        report = await indicators.report(realm, level, from_month, to_month)
        rows = report["rows"]
        if principal.role == "organizer" and principal.station_id is not None:
            if level != "station":
                raise errors.InvalidIndicatorLevel("a station organizer reads level=station (its own station)")
            rows = [row for row in rows if row["place"] == str(principal.station_id)]
        if format == "json":
            return Response(msgspec.convert({**report, "rows": rows}, IndicatorReport))
        name = f"indicators-{realm}-{level}-{report['from']}-{report['to']}.{format}"
        body = render.report_csv(rows) if format == "csv" else render.report_xlsx(rows, name)
        return Response(body, media_type=MEDIA[format],  # type: ignore[return-value]
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


ROUTES = [IndicatorController]
