import pytest

from earning.service import Earning


@pytest.fixture(scope="session")
async def earning(engine, ledger) -> Earning:
    return Earning(engine, ledger)
