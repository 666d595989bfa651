"""Web pages: server-rendered HTML under /app/, their assets under /static/.

The pages carry no data of their own: a little vanilla JS (api/static/*.js) calls the
JSON API with the bearer token the user pasted (kept in localStorage, no cookies, so no
CSRF surface). Chinese is rendered on the server from api/static/i18n.json; the same
file gives the JS its English switch and the problem `code` messages. Nothing is loaded
from elsewhere: the Content-Security-Policy allows only this origin.
"""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import msgspec
from jinja2 import Environment, PackageLoader, select_autoescape
from litestar import MediaType, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

from api.routes.common import Caller

STATIC_DIR = Path(__file__).parent / "static"
DEFAULT_LANGUAGE = "zh"
STATIC_CACHE_S = 300

# Only this origin; blob: for the voucher QR image the page fetches with its token.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
                           "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_templates = Environment(loader=PackageLoader("api", "templates"),
                         autoescape=select_autoescape(["html"]))


MESSAGE_FILES = ("i18n.json", "i18n.people.json", "i18n.services.json", "i18n.resources.json",
                 "i18n.insight.json")
# people: enrolment, activities, organizer; services: the service loop; resources: reservations;
# insight: the inbox on every page and the dashboard


@cache
def messages() -> dict[str, dict[str, str]]:
    """Every page's words, from the dictionary files merged (a key lives in one file)."""
    merged: dict[str, dict[str, str]] = {}
    for name in MESSAGE_FILES:
        for language, table in json.loads((STATIC_DIR / name).read_text(encoding="utf-8")).items():
            merged.setdefault(language, {}).update(table)
    return merged


def text(key: str) -> str:
    """The Chinese text for `key` (the page's first language; the JS switches it)."""
    return messages()[DEFAULT_LANGUAGE][key]


def page(template: str, role: str | None) -> Response[str]:
    html = _templates.get_template(template).render(t=text, role=role)
    return Response(html, media_type=MediaType.HTML, headers=PAGE_HEADERS)


@get("/", include_in_schema=False)
async def root() -> Redirect:
    return Redirect("/app/")


@get("/app/", include_in_schema=False)
async def landing() -> Response[str]:
    return page("landing.html", None)


@get("/app/resident", include_in_schema=False)
async def resident_page() -> Response[str]:
    return page("resident.html", "resident")


@get("/app/merchant", include_in_schema=False)
async def merchant_page() -> Response[str]:
    return page("merchant.html", "merchant")


@get("/app/audit", include_in_schema=False)
async def audit_page() -> Response[str]:
    return page("audit.html", "audit")


@get("/favicon.ico", include_in_schema=False, status_code=204)
async def favicon() -> None:
    """No icon (browsers ask for one on every page; an empty answer keeps 404s out of the log)."""
@get("/app/enrol", include_in_schema=False)
async def enrol_page() -> Response[str]:
    """Sign in from a card: the link carries the code after `#` (never sent to a server)."""
    return page("enrol.html", None)


@get("/app/activities", include_in_schema=False)
async def activities_page() -> Response[str]:
    return page("activities.html", "activities")


@get("/app/organizer", include_in_schema=False)
async def organizer_page() -> Response[str]:
    return page("organizer.html", "organizer")


@get("/app/services", include_in_schema=False)
async def services_page() -> Response[str]:
    """Residents: order a service, follow it, confirm and rate it; volunteers: my tasks."""
    return page("services.html", "services")


@get("/app/dispatch", include_in_schema=False)
async def dispatch_page() -> Response[str]:
    """Organizers: alerts, the dispatch queue with suggested volunteers, approvals."""
    return page("dispatch.html", "dispatch")


@get("/app/resources", include_in_schema=False)
async def resources_page() -> Response[str]:
    """A resident finds and books services (priority price shown) and cancels."""
    return page("resources.html", "resources")


@get("/app/desk-resources", include_in_schema=False)
async def desk_resources_page() -> Response[str]:
    """The organizer's desk books shared resources for its station."""
    return page("resources.html", "desk_resources")


@get("/app/provider", include_in_schema=False)
async def provider_page() -> Response[str]:
    """A service provider (a service_provider merchant): a day's bookings, attended or no-show."""
    return page("provider.html", "provider")


@get("/app/dashboard", include_in_schema=False)
async def dashboard_page() -> Response[str]:
    """Indicators as charts (Apache ECharts, vendored), each with a table and a download."""
    return page("dashboard.html", "dashboard")


@get("/app/i18n.json", include_in_schema=False)
async def dictionary() -> dict[str, dict[str, str]]:
    """The pages' words in both languages (app.js reads them for the English switch)."""
    return messages()


class Whoami(msgspec.Struct):
    token_id: int
    role: str
    realm: str | None            # None: an all-realms admin
    station_id: int | None
    merchant_id: int | None
    resident_id: int | None


@get("/v1/whoami", tags=["access"])
async def whoami(principal: Caller) -> Whoami:
    """Who this token is: its role and scopes (the pages read it after sign-in)."""
    return Whoami(token_id=principal.token_id, role=principal.role, realm=principal.realm,
                  station_id=principal.station_id, merchant_id=principal.merchant_id,
                  resident_id=principal.resident_id)


static_files = create_static_files_router(
    path="/static", directories=[STATIC_DIR], name="static",
    cache_control=CacheControlHeader(max_age=STATIC_CACHE_S), include_in_schema=False)

ROUTES = [root, landing, resident_page, merchant_page, audit_page, enrol_page, activities_page,
          organizer_page, services_page, dispatch_page, resources_page, desk_resources_page, provider_page,
          dashboard_page, dictionary, favicon, whoami, static_files]
