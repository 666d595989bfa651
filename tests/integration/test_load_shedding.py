"""The statement timeout is set on every connection of the service's engine, and a
statement that outlives it is `Overloaded` (503), in a read and in a transaction."""
import pytest
from sqlalchemy import text

from ledger import db, errors


@pytest.fixture
async def impatient_engine(database_url):
    engine = db.app_engine(database_url, pool_size=1, statement_timeout_s=0.2)
    yield engine
    await engine.dispose()


async def test_every_connection_has_the_statement_timeout(impatient_engine):
    shown = await db.read(impatient_engine, lambda conn: conn.scalar(text("SHOW statement_timeout")))
    assert shown == "200ms"


async def test_a_statement_past_the_timeout_is_overloaded(impatient_engine):
    async def slow(conn):
        return await conn.execute(text("SELECT pg_sleep(5)"))

    with pytest.raises(errors.Overloaded):
        await db.read(impatient_engine, slow)
    with pytest.raises(errors.Overloaded):
        await db.in_transaction(impatient_engine, slow)
