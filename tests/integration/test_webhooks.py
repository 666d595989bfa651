"""Webhooks against a local receiver: down for a while, then up (and answering 500 to the
first copy of some events after processing them). Every event arrives, every signature
verifies, and after de-duplication by event id nothing arrives twice. A delivery that
runs out of its 24 hours fails; an admin's replay delivers it."""
from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import text

from earning.service import Earning
from ledger import db, model
from notify import model as notify_model
from notify import repository as notify_repository
from notify import service as notify_service
from notify.service import Dispatcher, Sender, Webhooks
from tests.integration.earning_fixtures import make_place

EARNS = 8
ROUNDS_MAX = 30


class Receiver:
    """A webhook receiver on 127.0.0.1: records what it gets; answers 500 (after
    recording) to the first copy of every third event, as a receiver that crashed after
    processing would."""

    def __init__(self, port: int) -> None:
        self.port, self.received, self.seen = port, [], set()
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                uid = self.headers[notify_model.EVENT_ID_HEADER]
                receiver.received.append((dict(self.headers), body))
                first = uid not in receiver.seen
                receiver.seen.add(uid)
                failing = first and int(uid.rsplit("_", 1)[1]) % 3 == 0
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def time_passes(engine, realm: str) -> None:
    """The backoff's wait is over (instead of sleeping through it)."""
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE webhook_deliveries SET next_attempt_at = now() - interval '1 second' "
                                "WHERE realm = :realm AND status = 'pending'"), {"realm": realm})


async def statuses(engine, realm: str) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT status, count(*) FROM webhook_deliveries WHERE realm = :realm "
                                       "GROUP BY status"), {"realm": realm})
        return {row[0]: row[1] for row in rows}


@pytest.fixture
async def scene(engine, ledger, realm):
    place = await make_place(Earning(engine, ledger), realm, residents=2, fund=1_000)
    port = free_port()
    endpoint, _ = await Webhooks(engine, private_allowed=True).register(realm, f"http://127.0.0.1:{port}/hook", [], "test",
                                                                        "hook-1")
    receiver = Receiver(port)
    sender = Sender(engine, private_allowed=True)
    yield place, endpoint, receiver, sender
    receiver.stop()
    await sender.close()


async def earn(ledger, realm: str, resident_id: int, points: int) -> dict:
    budget = await ledger.system_account(realm, "budget", "civic")
    wallet = await ledger.owned_account(realm, "resident", "civic", resident_id=resident_id)
    return await ledger.post(model.EntryDraft(realm, "earn", (model.Line(budget["id"], -points),
                                                              model.Line(wallet["id"], points)), "test"))


async def test_down_then_up_every_event_delivered_signed_once(engine, ledger, realm, scene):
    place, endpoint, receiver, sender = scene
    for i in range(EARNS):
        await earn(ledger, realm, place.residents[i % 2], 5 + i)
    await db.in_transaction(engine, lambda conn: notify_repository.emit(
        conn, realm, "reservation.booked", subject_id=1, resident_id=place.residents[0], payload={"slot": 3}))
    await Dispatcher(engine).dispatch_all()
    async with engine.connect() as conn:
        expected = {notify_model.event_uid(realm, row[0]) for row in await conn.execute(
            text("SELECT id FROM events WHERE realm = :realm"), {"realm": realm})}
    assert len(expected) == EARNS + 1

    assert await sender.deliver_due() == 0                  # down: connection refused
    assert await statuses(engine, realm) == {"pending": EARNS + 1}
    receiver.start()
    for _ in range(ROUNDS_MAX):
        await time_passes(engine, realm)
        await sender.deliver_due()
        if await statuses(engine, realm) == {"delivered": EARNS + 1}:
            break
    assert await statuses(engine, realm) == {"delivered": EARNS + 1}

    secret = await secret_of(engine, endpoint["id"])
    now = int(time.time())
    for headers, body in receiver.received:
        assert notify_model.verify_signature(secret, headers[notify_model.SIGNATURE_HEADER], body, now)
        assert not notify_model.verify_signature(secret + "x", headers[notify_model.SIGNATURE_HEADER], body, now)
        assert json.loads(body)["id"] == headers[notify_model.EVENT_ID_HEADER]
    unique = {json.loads(body)["id"] for _, body in receiver.received}
    assert unique == expected                               # at least once, and nothing else
    assert len(receiver.received) > len(unique)             # some were sent twice (the 500s) ...
    by_id = {}
    for _, body in receiver.received:                       # ... with the same body each time
        by_id.setdefault(json.loads(body)["id"], set()).add(body)
    assert all(len(bodies) == 1 for bodies in by_id.values())


async def secret_of(engine, endpoint_id: int) -> str:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT secret FROM webhook_endpoints WHERE id = :id"),
                                   {"id": endpoint_id})).scalar_one()


async def test_a_delivery_out_of_time_fails_and_a_replay_delivers_it(engine, ledger, realm, scene):
    place, endpoint, receiver, sender = scene
    await earn(ledger, realm, place.residents[0], 3)
    await Dispatcher(engine).dispatch_all()
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE webhook_deliveries SET give_up_at = now() WHERE realm = :realm"),
                           {"realm": realm})
    for _ in range(ROUNDS_MAX):                             # down, and out of time: failed
        await sender.deliver_due()
        if await statuses(engine, realm) == {"failed": 1}:
            break
    assert await statuses(engine, realm) == {"failed": 1}
    failed = (await Webhooks(engine, private_allowed=True).deliveries(endpoint, None, None, "failed")).items[0]
    receiver.start()
    replayed = await Webhooks(engine, private_allowed=True).replay(failed["id"])
    assert replayed["status"] == "pending"
    # rounds until it is delivered: the receiver fails the first copy of every third event,
    # and the sender takes every realm's due deliveries, oldest first (other tests leave some)
    for _ in range(ROUNDS_MAX):
        await sender.deliver_due()
        if await statuses(engine, realm) == {"delivered": 1}:
            break
        await time_passes(engine, realm)
    assert await statuses(engine, realm) == {"delivered": 1}
    log = [a["status_code"] for a in await Webhooks(engine, private_allowed=True).attempts(failed)]
    assert log[0] is None and log[-1] == 204 and set(log[1:-1]) <= {500}


def test_signature_is_hmac_sha256_over_timestamp_and_body():
    import hashlib
    import hmac

    header = notify_model.signature_header("whsec_k", 1_700_000_000, '{"a":1}')
    expected = hmac.new(b"whsec_k", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert notify_model.verify_signature("whsec_k", header, '{"a":1}', 1_700_000_100)
    assert not notify_model.verify_signature("whsec_k", header, '{"a":2}', 1_700_000_100)
    assert not notify_model.verify_signature("whsec_k", header, '{"a":1}', 1_700_000_000 + 301)


async def test_a_sender_refuses_a_host_that_is_private_now(engine, ledger, realm, scene):
    """Registered when private hosts were allowed (or a name that later resolved to one):
    a sender that does not allow them sends nothing there, and records why."""
    place, endpoint, receiver, _ = scene
    await earn(ledger, realm, place.residents[0], 5)
    await Dispatcher(engine).dispatch_all()
    strict = Sender(engine)
    try:
        assert await strict.deliver_due() == 0
    finally:
        await strict.close()
    assert receiver.received == []
    failed = (await Webhooks(engine).deliveries(endpoint, None, None, None)).items[0]
    attempts = await Webhooks(engine).attempts(failed)
    assert attempts and attempts[0]["status_code"] is None and "private network" in attempts[0]["error"]


@pytest.mark.parametrize(("resolved", "private"), [(["93.184.215.14"], False), (["93.184.215.14", "10.0.0.7"], True),
                                                  (["::1"], True), (["2606:2800:21f:cb07::1"], False)])
async def test_a_name_is_checked_by_every_address_it_resolves_to(monkeypatch, resolved, private):
    loop = asyncio.get_running_loop()

    async def getaddrinfo(host, port, **_):
        assert (host, port) == ("hooks.example.org", 443)
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in resolved]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    assert await notify_service._resolves_privately("https://hooks.example.org/hook") is private
