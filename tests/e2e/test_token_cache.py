"""The token cache: a request uses it only once the listener has heard every revocation
committed before it; bypassed while the listener is away (the database decides)."""
from __future__ import annotations

import asyncio

from access.revocations import RevocationListener
from access.service import Access
from api.auth import Authenticator, create_token
from ledger import errors

NOTICE_WAIT_S = 5.0


async def wait_for(condition) -> None:
    for _ in range(int(NOTICE_WAIT_S / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the listener never heard it")


async def assert_revoked(authenticator: Authenticator, token: str) -> None:
    try:
        await authenticator.principal(f"Bearer {token}")
    except errors.Unauthorized as refused:
        assert refused.code == "token_revoked"
    else:
        raise AssertionError("a revoked token was accepted")


async def test_a_cached_token_is_refused_once_revoked_elsewhere(database_url, engine, realm):
    token = await create_token(engine, "admin", realm)
    listener = RevocationListener(database_url)
    await listener.start()
    try:
        await wait_for(lambda: listener.live)
        access = Access(engine)
        cached = Authenticator(access, listener)
        principal = await cached.principal(f"Bearer {token}")
        assert token in cached._cache                    # cached while the listener is live
        await access.revoke(principal.token_id, "elsewhere")    # not through this authenticator
        await assert_revoked(cached, token)                       # refused at once, no waiting
    finally:
        await listener.stop()


async def test_no_caching_while_the_listener_is_away(database_url, engine, realm):
    token = await create_token(engine, "admin", realm)
    listener = RevocationListener("postgresql://nobody@127.0.0.1:1/none")   # never connects
    await listener.start()
    try:
        access = Access(engine)
        authenticator = Authenticator(access, listener)
        principal = await authenticator.principal(f"Bearer {token}")
        assert not listener.live and len(authenticator._cache) == 0
        await access.revoke(principal.token_id, "test")
        await assert_revoked(authenticator, token)
    finally:
        await listener.stop()
