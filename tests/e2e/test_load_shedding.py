"""Load shedding over HTTP: an exhausted connection pool answers 503 `overloaded`, a
token past its rendering budget and an address past its unauthenticated budget answer
429 `rate_limited`, each with Retry-After, and recover (an injected clock, no waiting)."""
from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import contextmanager

from litestar.testing import AsyncTestClient
from sqlalchemy import text

from api.app import create_app
from api.errors import RETRY_AFTER_S
from api.limits import Limits, RateLimiter
from api.settings import Settings
from api.auth import create_token
from tests.e2e.conftest import bearer
from tests.e2e.test_vouchers_http import issue
from tests.redemption_support import fund_resident


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def limits_of(client, render: RateLimiter, public: RateLimiter):
    state = client.app.state
    kept = state.limits
    state.limits = Limits(render=render, public=public)
    try:
        yield
    finally:
        state.limits = kept


async def test_an_exhausted_pool_answers_503_overloaded_then_serves_again(database_url, tokens, tmp_path):
    settings = Settings(data_dir=tmp_path, seal_interval_s=0, db_pool_size=1, db_pool_overflow=0,
                        db_pool_timeout_s=0.2)
    app = create_app(settings, database_url=database_url)
    async with AsyncTestClient(app=app) as client:
        path = f"/v1/realms/{tokens.realm}"
        async with app.state.services.engine.connect() as held:   # the pool's only connection
            await held.execute(text("SELECT 1"))
            shed = await client.get(path, headers=tokens.admin)
        assert shed.status_code == 503, shed.text
        assert shed.json()["code"] == "overloaded" and shed.headers["Retry-After"] == str(RETRY_AFTER_S)
        assert shed.headers["content-type"].startswith("application/problem+json")
        served = await client.get(path, headers=tokens.admin)
        assert served.status_code == 200, served.text


async def test_renderings_are_limited_per_token_429_then_recover(client, tokens, ledger, engine):
    await fund_resident(ledger, tokens.realm, 1)
    second_device = bearer(await create_token(engine, "resident", tokens.realm, resident_id=1, check_holder=False))
    voucher = (await issue(client, tokens, "render-limit")).json()
    clock = Clock()
    with limits_of(client, RateLimiter(0.5, 2, clock=clock), RateLimiter(1, 1, clock=clock)):
        for url in (voucher["qr_png_url"], voucher["qr_svg_url"]):
            assert (await client.get(url, headers=tokens.resident)).status_code == 200
        refused = await client.get(voucher["pdf_url"], headers=tokens.resident)
        assert refused.status_code == 429, refused.text
        assert refused.json()["code"] == "rate_limited" and refused.headers["Retry-After"] == "2"
        other_token = await client.get(voucher["qr_png_url"], headers=second_device)
        assert other_token.status_code == 200           # another token has its own budget
        clock.now += 2.0
        again = await client.get(voucher["qr_svg_url"], headers=tokens.resident)
        assert again.status_code == 200, again.text


async def test_unauthenticated_endpoints_are_limited_per_address(client):
    clock = Clock()
    with limits_of(client, RateLimiter(1, 1, clock=clock), RateLimiter(0.25, 2, clock=clock)):
        assert (await client.get("/.well-known/pointsbank-keys.json")).status_code == 200
        assert (await client.get("/healthz")).status_code == 200
        refused = await client.get("/.well-known/pointsbank-keys.json")
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "4"
        clock.now += 4.0
        assert (await client.get("/.well-known/pointsbank-keys.json")).status_code == 200


async def test_an_unknown_token_on_a_rendering_is_still_401(client):
    refused = await client.get("/v1/vouchers/1/qr.png", headers={"Authorization": "Bearer pb_nobody"})
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"


CLIENTS = 300
REQUESTS_PER_CLIENT = 3
CLIENT_TIMEOUT_S = 30.0      # far above the pool timeout: a client that waits this long failed


async def test_300_clients_at_once_get_answers_or_retry_after_never_a_timeout(database_url, tokens, ledger,
                                                                                tmp_path):
    """A served app with a tiny pool and small budgets, 300 clients at once: every
    answer is 2xx/4xx, or 503/429 with Retry-After; no client times out."""
    import httpx

    from bench.harness import served_app

    await fund_resident(ledger, tokens.realm, 1)
    funding = await ledger.system_account(tokens.realm, "funding", "civic")
    budget = await ledger.system_account(tokens.realm, "budget", "civic")
    env = {"POINTSBANK_DATA_DIR": str(tmp_path), "POINTSBANK_SEAL_INTERVAL_S": "0",
           "POINTSBANK_DB_POOL_SIZE": "2", "POINTSBANK_DB_POOL_OVERFLOW": "0",
           "POINTSBANK_DB_POOL_TIMEOUT_S": "0.5", "POINTSBANK_RENDER_BURST": "5",
           "POINTSBANK_PUBLIC_BURST": "20"}
    with served_app(database_url, **env) as port:
        # a connection per request: a kept-alive one may be closed by the server's idle
        # timer just as a slow client reuses it (a reset, not what this test is about)
        limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=CLIENT_TIMEOUT_S,
                                     limits=limits) as http:
            voucher = (await http.post("/v1/vouchers", headers={**tokens.resident, "Idempotency-Key": "load"},
                                       json={"asset": "civic", "amount": 10})).json()

            def request(number: int, attempt: int):
                kind = number % 4
                if kind == 0:
                    return http.get("/.well-known/pointsbank-keys.json")
                if kind == 1:
                    return http.get(f"/v1/realms/{tokens.realm}", headers=tokens.admin)
                if kind == 2:
                    return http.get(voucher["qr_png_url"], headers=tokens.resident)
                return http.post("/v1/entries", headers={**tokens.admin, "Idempotency-Key": f"load-{number}-{attempt}"},
                                 json={"realm": tokens.realm, "kind": "fund", "postings": [
                                     {"account_id": funding["id"], "amount": -1},
                                     {"account_id": budget["id"], "amount": 1}]})

            async def client(number: int) -> list[httpx.Response]:
                return [await request(number, attempt) for attempt in range(REQUESTS_PER_CLIENT)]

            answers = [r for rs in await asyncio.gather(*(client(n) for n in range(CLIENTS))) for r in rs]
    assert len(answers) == CLIENTS * REQUESTS_PER_CLIENT   # a timeout would have raised
    statuses = Counter(answer.status_code for answer in answers)
    assert all(200 <= status < 500 or status == 503 for status in statuses), statuses
    shed = [answer for answer in answers if answer.status_code in (429, 503)]
    assert all(int(answer.headers["Retry-After"]) >= 1 for answer in shed)
    assert {answer.json()["code"] for answer in shed} <= {"rate_limited", "overloaded"}
    assert statuses[429] > 0 and statuses[200] + statuses[201] > 0, statuses
