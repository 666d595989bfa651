"""Shared fixtures. Every database test runs on a fresh database made by the migrations
(so the triggers and grants are the real ones), on DATABASE_URL's server or on an
embedded PostgreSQL. Tests isolate themselves by realm: each takes a new one."""
from __future__ import annotations

import itertools
import os
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest

from api.database import embedded_server_url, with_database
from ledger import db
from ledger.service import Ledger
from migrations.runner import upgrade

TEST_DATA_DIR = Path(os.environ.get("POINTSBANK_TEST_DATA_DIR", ".pointsbank/test"))
_realm_codes = itertools.count(random.randint(100000, 800000))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "database_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


@pytest.fixture(scope="session")
def server_url() -> str:
    return os.environ.get("DATABASE_URL") or embedded_server_url(TEST_DATA_DIR)


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    name = f"pb_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    upgrade(url)
    yield url
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[db.AsyncEngine]:
    engine = db.app_engine(database_url, pool_size=40)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def ledger(engine) -> AsyncIterator[Ledger]:
    ledger = Ledger(engine)
    yield ledger
    await ledger.close()


def new_realm_code() -> str:
    return f"{next(_realm_codes):06d}"


@pytest.fixture
async def realm(ledger: Ledger) -> str:
    code = new_realm_code()
    await ledger.open_realm(code, f"测试区 {code}")
    return code


@pytest.fixture
def owner_conn(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection as the schema's owner (the migrations' user), outside the app role."""
    with psycopg.connect(database_url) as conn:
        yield conn


@pytest.fixture
def app_conn(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection as the application role, the way the service connects."""
    with psycopg.connect(database_url, options=f"-c role={db.APP_ROLE}") as conn:
        yield conn


@pytest.fixture(autouse=True)
async def hold_accounts_match_outstanding_vouchers(request: pytest.FixtureRequest):
    """Invariant 7 after every database test: each hold account's balance equals the sum
    of its outstanding vouchers (the `hold_reconciliation` view the audit reuses)."""
    yield
    if "engine" not in request.fixturenames:
        return
    from sqlalchemy import text

    engine = request.getfixturevalue("engine")
    async with engine.connect() as conn:
        broken = (await conn.execute(text(
            "SELECT realm, asset, hold_balance, outstanding FROM hold_reconciliation "
            "WHERE difference <> 0"))).all()
        miscounted = (await conn.execute(text(
            "SELECT r.realm, r.asset, r.outstanding, o.amount FROM hold_reconciliation r "
            "LEFT JOIN voucher_outstanding o ON o.realm = r.realm AND o.asset = r.asset "
            "WHERE r.outstanding <> coalesce(o.amount, 0)"))).all()
    assert not broken, f"hold accounts disagree with outstanding vouchers: {broken}"
    assert not miscounted, f"the outstanding totals disagree with the vouchers: {miscounted}"
