"""A database outage is a 503 `database_unavailable` with Retry-After on every route,
never a 500 (issue 11 item 6). The app reaches PostgreSQL through a TCP relay that the
test cuts: live connections are dropped and new ones are refused."""
from __future__ import annotations

import asyncio
import contextlib
import threading

import psycopg
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import make_url

from api.app import create_app
from api.auth import create_token
from api.settings import Settings
from merchants.service import Merchants
from tests.e2e.conftest import bearer
from tests.redemption_support import fund_resident


class Relay:
    """Bytes both ways between local TCP clients and the database server, on an event
    loop of its own thread (the test client blocks the test's loop while the app runs)."""

    def __init__(self, database_url: str) -> None:
        with psycopg.connect(database_url) as conn:
            self.host, self.port = conn.info.host, conn.info.port
        self.server: asyncio.AbstractServer | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> int:
        self.thread.start()
        self.server = self._run(asyncio.start_server(self._serve, "127.0.0.1", 0))
        return self.server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()

    def _run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    async def _upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.host.startswith("/"):
            return await asyncio.open_unix_connection(f"{self.host}/.s.PGSQL.{self.port}")
        return await asyncio.open_connection(self.host, self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await self._upstream()
        self.writers += [writer, up_writer]
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        writer.close()

    def cut(self) -> None:
        """The outage: stop listening and drop every open connection."""
        self._run(self._cut())

    async def _cut(self) -> None:
        self.server.close()  # type: ignore[union-attr]
        for writer in self.writers:
            writer.close()


def assert_unavailable(response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "database_unavailable"
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.parametrize("writers", [0, 2], ids=["one-commit-each", "group-commit"])
async def test_an_outage_answers_503_everywhere(database_url, engine, ledger, realm, tmp_path, writers):
    relay = Relay(database_url)
    port = relay.start()
    relayed = make_url(database_url).set(host="127.0.0.1", port=port, query={}).render_as_string(hide_password=False)
    await fund_resident(ledger, realm, 1)
    merchant = await Merchants(engine, ledger).create(realm, "general", "停电小店")
    admin = bearer(await create_token(engine, "admin", realm))
    resident = bearer(await create_token(engine, "resident", realm, resident_id=1, check_holder=False))
    shop = bearer(await create_token(engine, "merchant", realm, merchant_id=merchant["id"]))
    never_seen = bearer(await create_token(engine, "auditor", realm))
    app = create_app(Settings(group_commit_writers=writers, data_dir=tmp_path, seal_interval_s=0),
                     database_url=relayed)
    try:
        await walk_an_outage(app, relay, ledger, realm, admin, resident, shop, never_seen)
    finally:
        relay.stop()


async def walk_an_outage(app, relay, ledger, realm, admin, resident, shop, never_seen) -> None:
    async with AsyncTestClient(app=app) as client:
        voucher = await client.post("/v1/vouchers", json={"asset": "civic", "amount": 10},
                                    headers={**resident, "Idempotency-Key": "before"})
        assert voucher.status_code == 201, voucher.text
        account = (await client.get("/v1/vouchers", headers=resident)).json()["items"][0]["hold_entry_id"]
        for headers in (admin, shop):  # their tokens are now known to the app
            assert (await client.get("/v1/whoami", headers=headers)).status_code == 200
        budget = await ledger.system_account(realm, "budget", "civic")
        funding = await ledger.system_account(realm, "funding", "civic")

        relay.cut()

        assert_unavailable(await client.post(
            "/v1/entries", headers={**admin, "Idempotency-Key": "during"},
            json={"realm": realm, "kind": "adjustment",
                  "postings": [{"account_id": funding["id"], "amount": -5}, {"account_id": budget["id"], "amount": 5}]}))
        assert_unavailable(await client.post("/v1/vouchers", json={"asset": "civic", "amount": 10},
                                             headers={**resident, "Idempotency-Key": "during"}))
        assert_unavailable(await client.post("/v1/redemptions", json={"code": voucher.json()["code"]},
                                             headers={**shop, "Idempotency-Key": "during"}))
        assert_unavailable(await client.get(f"/v1/entries/{account}", headers=admin))
        assert_unavailable(await client.get("/v1/whoami", headers=never_seen))
