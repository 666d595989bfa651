"""Group commit's failure paths, without a database."""
import asyncio

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from ledger import errors
from ledger.group_commit import GroupCommit


@pytest.fixture
def statements(monkeypatch):
    """Each call of the batch statement, as the requests it carried; the outcome per call
    comes from `outcomes` (an exception to raise, or results)."""
    calls: list[list[dict]] = []
    outcomes: list[object] = []

    async def run(self, link, requests):
        calls.append(requests)
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    monkeypatch.setattr(GroupCommit, "_run", run)
    return calls, outcomes


async def submit_together(group: GroupCommit, count: int):
    return await asyncio.gather(*(group.submit({"n": n}) for n in range(count)), return_exceptions=True)


async def test_a_lost_connection_fails_the_batch_and_redoes_nothing(statements):
    calls, outcomes = statements
    outcomes.append(OperationalError("COMMIT", {}, Exception("server closed the connection")))
    group = GroupCommit(engine=None, writers=1)
    results = await submit_together(group, 3)
    await group.close()
    assert all(isinstance(r, errors.Unavailable) for r in results)
    assert len(calls) == 1 and len(calls[0]) == 3  # one attempt, never item by item


async def test_a_refusal_at_commit_is_found_by_committing_each_alone(statements):
    calls, outcomes = statements
    outcomes += [IntegrityError("COMMIT", {}, Exception("deferred check")),
                 [{"id": 1}], IntegrityError("COMMIT", {}, Exception("deferred check")), [{"id": 3}]]
    group = GroupCommit(engine=None, writers=1)
    results = await submit_together(group, 3)
    await group.close()
    assert results[0] == {"id": 1} and results[2] == {"id": 3}
    assert isinstance(results[1], Exception)
    assert [len(c) for c in calls] == [3, 1, 1, 1]
