"""A group commit writer keeps one connection for its batches (no pool checkout per
batch), replaces it once it is lost (that batch answered `Unavailable`, never redone),
and gives it back when the writer stops or has nothing to write."""
import asyncio

import pytest
from sqlalchemy import event

from ledger import db, errors, repository
from ledger import group_commit
from ledger.group_commit import GroupCommit
from tests.integration.helpers import funded_budget, move, residents


@pytest.fixture
async def counted_engine(database_url):
    """A small engine of its own, and the backend pid of every checkout from its pool."""
    engine = db.app_engine(database_url, pool_size=2)
    checkouts: list[int] = []
    event.listen(engine.sync_engine, "checkout",
                 lambda _dbapi, record, _proxy: checkouts.append(record.driver_connection.info.backend_pid))
    yield engine, checkouts
    await engine.dispose()


async def test_a_writer_keeps_its_connection_replaces_a_lost_one_and_gives_it_back(
        counted_engine, ledger, realm, owner_conn):
    engine, checkouts = counted_engine
    budget = await funded_budget(ledger, realm, 100)
    source, target = await residents(ledger, realm, 2)
    await ledger.post(move(realm, budget, source, 50))
    group = GroupCommit(engine, writers=1)

    async def transfer(key: str) -> dict:
        draft = await ledger.prepare(None, move(realm, source, target, 1, idempotency_key=key))
        return await group.submit(repository.draft_json(draft))

    try:
        for n in range(5):
            assert "id" in await transfer(f"kept-{n}")
        assert len(checkouts) == 1, "one checkout for five batches"

        owner_conn.execute("SELECT pg_terminate_backend(%s)", (checkouts[0],))
        with pytest.raises(errors.Unavailable):
            await transfer("lost")
        assert "id" in await transfer("after")
        assert len(checkouts) == 2 and checkouts[1] != checkouts[0]
        moved = owner_conn.execute("SELECT count(*) FROM entries WHERE realm = %s AND kind = 'adjustment'",
                                   (realm,)).fetchone()[0]
        assert moved in (7, 8)     # five, "after", the setup's move; "lost" only if its COMMIT landed
    finally:
        await group.close()
    assert engine.sync_engine.pool.checkedout() == 0


async def test_an_idle_writer_gives_its_connection_back(counted_engine, ledger, realm, monkeypatch):
    monkeypatch.setattr(group_commit, "LINK_IDLE_S", 0.05)
    engine, checkouts = counted_engine
    budget = await funded_budget(ledger, realm, 100)
    (wallet,) = await residents(ledger, realm, 1)
    group = GroupCommit(engine, writers=1)

    async def earn(key: str) -> dict:
        draft = await ledger.prepare(None, move(realm, budget, wallet, 1, idempotency_key=key))
        return await group.submit(repository.draft_json(draft))

    try:
        assert "id" in await earn("first")
        assert engine.sync_engine.pool.checkedout() == 1
        await asyncio.sleep(0.3)
        assert engine.sync_engine.pool.checkedout() == 0, "nothing to write: nothing held"
        assert "id" in await earn("second")
        assert len(checkouts) == 2
    finally:
        await group.close()
