"""HTTP against the real app (lifespan and all) on the test database."""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.auth import create_token
from api.settings import Settings


@pytest.fixture(scope="session")
async def client(database_url: str, tmp_path_factory, key_dir) -> AsyncIterator[AsyncTestClient]:
    # no background sealing: tests seal when they mean to (tests/e2e/test_audit.py covers it);
    # the session's keys, like every other sealer of the test database
    settings = Settings(group_commit_writers=2, data_dir=tmp_path_factory.mktemp("data"), seal_interval_s=0,
                        key_dir=key_dir, activity_close_interval_s=0, service_jobs_interval_s=0,
                        webhook_interval_s=0)
    app = create_app(settings, database_url=database_url)
    async with AsyncTestClient(app=app) as client:
        yield client


@dataclass
class Tokens:
    """One bearer header per role, all scoped to one fresh realm."""
    realm: str
    admin: dict[str, str]
    organizer: dict[str, str]
    auditor: dict[str, str]
    merchant: dict[str, str]
    resident: dict[str, str]
    global_admin: dict[str, str]
    other_realm_admin: dict[str, str]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def tokens(engine, realm: str, ledger) -> Tokens:
    from tests.conftest import new_realm_code

    other = new_realm_code()
    await ledger.open_realm(other, "其他区")
    return Tokens(
        realm=realm,
        admin=bearer(await create_token(engine, "admin", realm)),
        organizer=bearer(await create_token(engine, "organizer", realm)),
        auditor=bearer(await create_token(engine, "auditor", realm)),
        merchant=bearer(await create_token(engine, "merchant", realm, merchant_id=1,
                                                check_holder=False)),
        resident=bearer(await create_token(engine, "resident", realm, resident_id=1,
                                                check_holder=False)),
        global_admin=bearer(await create_token(engine, "admin", None)),
        other_realm_admin=bearer(await create_token(engine, "admin", other)),
    )


@pytest.fixture
async def realm_with_merchant(realm, engine, ledger):
    """A realm and one active general merchant in it (made through the registry)."""
    from merchants.service import Merchants

    merchant = await Merchants(engine, ledger).create(realm, "general", "测试商店")
    return realm, merchant["id"]
