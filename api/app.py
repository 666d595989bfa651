"""The app factory: `create_app(settings)` assembles services, routes and error mapping."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, get
from litestar.datastructures import State
from litestar.di import Provide
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from access.revocations import RevocationListener
from access.service import Access
import merchants.audit  # noqa: F401  (registers the merchant checks with the audit)
import redemption.audit  # noqa: F401  (registers the voucher checks with the audit)
import resources.audit  # noqa: F401  (registers the reservation checks with the audit)
from api import pages
from api.auth import Authenticator, auditors_read_only, current_principal
from api.background import PeriodicJobs
from api.leader import Leadership
from api.database import resolve_database_url
from api.decoding import CheckedRequest, check_parameters
from api.errors import EXCEPTION_HANDLERS
from api.limits import Limits, per_address
from api.openapi import OPENAPI_CONFIG, StrictStructSchema, document
from api.routes import access as access_routes
from api.routes import activities as activity_routes
from api.routes import audit as audit_routes
from api.routes import earning as earning_routes
from api.routes import feedback as feedback_routes
from api.routes import history as history_routes
from api.routes import ledger as ledger_routes
from api.routes import merchants as merchant_routes
from api.routes import orders as order_routes
from api.routes import indicators as indicator_routes
from api.routes import notifications as notification_routes
from api.routes import recognition as recognition_routes
from api.routes import redemption as redemption_routes
from api.routes import resources as resource_routes
from api.routes import rewards as reward_routes
from api.routes import settlements as settlement_routes
from api.routes import venue as venue_routes
from api.routes.common import guards_without_copies, resolve_dependencies_in_turn, service_dependencies
from api.service_loop import ServiceJobs
from api.settings import Settings
from earning.service import Earning
from earning.venue import Venue
from feedback.service import Feedback
from ledger import db
from ledger.checkpoints import Checkpoints
from ledger.group_commit import GroupCommit
from ledger.keys import KeyRing
from ledger.service import Ledger
from ledger.reads import Reads
from merchants.service import Catalogue, Merchants, Settlements
from orders.service import Orders
from insight.service import Indicators, Privacy, Recognition
from notify.service import Dispatcher, Inbox, Sender, Webhooks
from redemption.service import Vouchers
from resources.service import Resources

VOUCHER_EXPIRY_INTERVAL_S = 60.0
HEALTH_TIMEOUT_S = 2.0
READ_POOL_SIZE = 8   # per process: psycopg connections for the hot look-ups (Reads)


@dataclass
class Services:
    """Every service the routes call, built once per app."""
    engine: AsyncEngine
    keys: KeyRing
    ledger: Ledger
    merchants: Merchants
    vouchers: Vouchers
    earning: Earning
    catalogue: Catalogue
    settlements: Settlements
    checkpoints: Checkpoints
    access: Access
    venue: Venue
    orders: Orders
    feedback: Feedback
    resources: Resources
    dispatcher: Dispatcher
    sender: Sender
    inbox: Inbox
    webhooks: Webhooks
    indicators: Indicators
    privacy: Privacy
    recognition: Recognition

    async def emit_notices(self) -> int:
        """voucher.expiring and budget.low: the events no single write causes."""
        return await self.dispatcher.emit_expiring() + await self.indicators.emit_budget_low()

    async def close(self) -> None:
        await self.sender.close()
        await self.vouchers.close()
        await self.ledger.close()
        await self.ledger.reads.close()
        await self.engine.dispose()


def build_services(database_url: str, settings: Settings) -> Services:
    engine = db.app_engine(database_url, settings.db_pool_size, settings.db_pool_overflow,
                           settings.db_pool_timeout_s, settings.db_statement_timeout_s)
    reads = Reads.pooled(engine, database_url, READ_POOL_SIZE, settings.db_pool_timeout_s,
                            settings.db_statement_timeout_s)
    group_commit = (GroupCommit(engine, writers=settings.group_commit_writers,
                                queue_depth_max=settings.group_commit_queue_max)
                    if settings.group_commit_writers > 0 else None)
    ledger = Ledger(engine, group_commit, reads)
    keys = KeyRing(settings.signing_key_dir)
    return Services(engine=engine, keys=keys, ledger=ledger, earning=Earning(engine, ledger),
                    merchants=Merchants(engine, ledger, reads),
                    vouchers=Vouchers(engine, ledger, keys, capture_writers=settings.group_commit_writers,
                                      capture_queue_max=settings.group_commit_queue_max),
                    catalogue=Catalogue(engine), settlements=Settlements(engine, ledger, keys),
                    checkpoints=Checkpoints(engine, keys),
                    access=Access(engine, settings.device_token_lifetime_s, reads=reads), venue=Venue(engine),
                    orders=Orders(engine, ledger), feedback=Feedback(engine),
                    resources=Resources(engine, ledger),

                    dispatcher=Dispatcher(engine),
                    sender=Sender(engine, private_allowed=settings.webhook_private_allowed), inbox=Inbox(engine),
                    webhooks=Webhooks(engine, settings.webhook_private_allowed), indicators=Indicators(engine),
                    privacy=Privacy(engine),
                    recognition=Recognition(engine))


class Health(msgspec.Struct):
    status: str     # "ok", or "unavailable" (answered with 503)
    database: str   # "ok" or "unreachable"


@get("/healthz", include_in_schema=False, guards=[per_address("public")])
async def healthz(state: State) -> Response[Health]:
    """Alive and the database answers (one `SELECT 1` on a pooled connection, bounded by
    HEALTH_TIMEOUT_S): what a load balancer or a container healthcheck asks."""
    try:
        await asyncio.wait_for(db.read(state.services.engine, _select_one), HEALTH_TIMEOUT_S)
    except (asyncio.TimeoutError, OSError, DBAPIError):
        return Response(Health("unavailable", "unreachable"), status_code=503)
    return Response(Health("ok", "ok"))


async def _select_one(conn: AsyncConnection) -> None:
    await conn.execute(text("SELECT 1"))


async def screen_request(request: Request[Any, Any, Any]) -> None:
    """App-wide `before_request`, before any handler reads its body: an auditor's write
    is refused (403), then path and query parameters get the checks bodies get."""
    await auditors_read_only(request)
    await check_parameters(request)


def create_app(settings: Settings | None = None, database_url: str | None = None) -> Litestar:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        url = database_url or resolve_database_url(settings.database_url, settings.data_dir)
        services = build_services(url, settings)
        app.state.services = services
        listener = RevocationListener(url)
        await listener.start()
        app.state.authenticator = Authenticator(services.access, listener)
        app.state.limits = Limits.from_settings(settings)
        leadership = Leadership(url)
        jobs = PeriodicJobs(leadership.leading)
        jobs.start("voucher expiry", VOUCHER_EXPIRY_INTERVAL_S, services.vouchers.expire_due)
        jobs.start("checkpoint sealing", settings.seal_interval_s, services.checkpoints.seal_periodically)
        jobs.start("activity closing", settings.activity_close_interval_s, services.venue.close_ended)
        loop = ServiceJobs(services, settings.service_dispatch_timeout_s, settings.service_auto_confirm_s)
        jobs.start("service dispatch timeouts", settings.service_jobs_interval_s, loop.return_timed_out)
        jobs.start("service overdue flags", settings.service_jobs_interval_s, loop.flag_overdue)
        jobs.start("service auto-confirmation", settings.service_jobs_interval_s, loop.auto_confirm)
        # events leave the outbox in the background: a slow or dead receiver never holds a write
        jobs.start("outbox dispatch", settings.outbox_interval_s, services.dispatcher.dispatch_all)
        jobs.start("webhook delivery", settings.webhook_interval_s, services.sender.deliver_due)
        jobs.start("expiry and budget notices", settings.notice_interval_s, services.emit_notices)
        try:
            yield
        finally:
            await jobs.stop()
            await leadership.close()
            await listener.stop()
            await services.close()

    app = Litestar(
        route_handlers=[healthz, *ledger_routes.ROUTES, *merchant_routes.ROUTES,
                        *redemption_routes.ROUTES, *earning_routes.ROUTES, *history_routes.ROUTES,
                        *reward_routes.ROUTES, *settlement_routes.ROUTES, *audit_routes.ROUTES,
                        *access_routes.ROUTES, *activity_routes.ROUTES,
                        *venue_routes.ROUTES, *order_routes.ROUTES, *feedback_routes.ROUTES,
                        *resource_routes.ROUTES,
                        *notification_routes.ROUTES,
                        *indicator_routes.ROUTES, *recognition_routes.ROUTES,
                        *pages.ROUTES],
        request_class=CheckedRequest,
        before_request=screen_request,
        dependencies={"principal": Provide(current_principal),
                      **service_dependencies([field.name for field in fields(Services)], lambda: app.state)},
        plugins=[StrictStructSchema()],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=[lifespan],
        openapi_config=OPENAPI_CONFIG,
        debug=False,
    )
    resolve_dependencies_in_turn(app)
    guards_without_copies(app)
    document(app)
    return app
