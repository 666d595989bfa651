"""Fixtures and helpers for the reservation tests (imported by their modules): a realm
with two towns, three stations, residents with points, a service_provider merchant and
its provider, and the service on a settable clock."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from earning.service import Earning
from ledger import model as ledger_model
from merchants.service import Merchants
from resources import model
from resources.service import Booker, Resources
from tests.redemption_support import Clock

STARTING_POINTS = 1_000
PRIORITY_PRICE = 30


@dataclass
class World:
    realm: str
    home: model.Station          # a station in the first town
    neighbour: model.Station     # another station of the same town
    far: model.Station           # a station of the second town
    residents: list[int] = field(default_factory=list)
    merchant_id: int = 0
    provider: dict = field(default_factory=dict)

    def booker(self, resident: int | None = None, station: model.Station | None = None) -> Booker:
        return Booker(self.realm, station or self.home, resident)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def resources_service(engine, ledger, clock) -> Resources:
    return Resources(engine, ledger, clock)


async def make_world(engine, ledger, realm: str, residents: int = 3, points: int = STARTING_POINTS) -> World:
    earning = Earning(engine, ledger)
    towns = [await earning.create_town(realm, f"镇{secrets.token_hex(3)}") for _ in range(2)]
    made = [await earning.create_station(realm, town["id"], f"站{secrets.token_hex(3)}", "rural")
            for town in (towns[0], towns[0], towns[1])]
    home, neighbour, far = (model.Station(realm, s["id"], s["town_id"]) for s in made)
    world = World(realm, home, neighbour, far)
    if residents:
        await earning.fund_budget(realm, "civic", residents * points, "test", f"fund-{secrets.token_hex(4)}")
        budget = await ledger.system_account(realm, "budget", "civic")
        for _ in range(residents):
            resident = await earning.register_resident(realm, home.id, f"R{secrets.token_hex(6)}")
            wallet = next(a for a in resident["accounts"] if a["asset"] == "civic")
            await ledger.post(ledger_model.EntryDraft(
                realm=realm, kind="earn", created_by="test",
                lines=(ledger_model.Line(budget["id"], -points), ledger_model.Line(wallet["id"], points))))
            world.residents.append(resident["id"])
    merchant = await Merchants(engine, ledger).create(realm, "service_provider", "县医院")
    world.merchant_id = merchant["id"]
    return world


@pytest.fixture
async def world(engine, ledger, realm, resources_service) -> World:
    made = await make_world(engine, ledger, realm)
    made.provider = await resources_service.register_provider(
        realm, "县医院体检中心", model.Provider(made.merchant_id, "service_provider", realm), "admin:1")
    return made


async def resource(service: Resources, world: World, place: dict | None = None, **policy) -> dict:
    fields = {"kind": "health", "title": "体检", "scope": "realm",
              **(place or {"station_id": world.home.id}), **policy}
    return await service.create_resource(world.provider, fields, "admin:1")


def next_monday(hour: int) -> datetime:
    """`hour` o'clock next Monday in the realms' time zone: slots a few hours apart from
    it are all in one week, whenever the test runs."""
    zone = ZoneInfo(ledger_model.DEFAULT_TIMEZONE)
    today = datetime.now(zone).date()
    monday = today + timedelta(days=7 - today.weekday())
    return datetime.combine(monday, time(hour), zone).astimezone(timezone.utc)


async def slot(service: Resources, made: dict, hours_ahead: float = 48, capacity: int = 5,
               priority_places: int = 0, start: datetime | None = None) -> dict:
    start = start or datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=hours_ahead)
    return (await service.add_slots(made, [start], timedelta(hours=1), capacity, priority_places))[0]


def key() -> str:
    return f"book-{secrets.token_hex(8)}"
