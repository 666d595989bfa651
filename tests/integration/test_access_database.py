"""The database holds access's rules whatever the service does: a claimed code stays
claimed, a locked or expired code cannot be claimed, a revocation is final."""
from __future__ import annotations

import psycopg
import pytest

from access import model
from access.service import Access
from earning.service import Earning


@pytest.fixture
async def enrolment(engine, ledger, realm):
    earning = Earning(engine, ledger)
    town = await earning.create_town(realm, "城关镇")
    station = await earning.create_station(realm, town["id"], "城关站", "urban")
    resident = await earning.register_resident(realm, station["id"], f"DB{realm}")
    return await Access(engine).create_enrolment(model.Holder("resident", realm, resident_id=resident["id"]), "test")


def refused(app_conn, sql: str, params: tuple, code: str) -> None:
    with pytest.raises(psycopg.errors.RaiseException, match=code):
        app_conn.execute(sql, params)
    app_conn.rollback()


async def test_a_claimed_code_cannot_be_claimed_again_in_sql(engine, enrolment, app_conn):
    device = await Access(engine).claim(enrolment["code"], "test")
    refused(app_conn, "UPDATE enrolments SET claimed_at = now() + interval '1 second' WHERE id = %s",
            (enrolment["id"],), "enrolment_claimed")


async def test_a_locked_or_expired_code_cannot_be_claimed_in_sql(engine, enrolment, app_conn, realm):
    _, token = await Access(engine).create_token(model.Holder("admin", realm))
    token_id = token["id"]
    refused(app_conn, "UPDATE enrolments SET claimed_at = expires_at + interval '1 second', token_id = %s "
            "WHERE id = %s", (token_id, enrolment["id"]), "enrolment_expired")
    for _ in range(5):
        app_conn.execute("UPDATE enrolments SET failures = failures + 1 WHERE id = %s", (enrolment["id"],))
    app_conn.commit()
    refused(app_conn, "UPDATE enrolments SET claimed_at = now(), token_id = %s WHERE id = %s",
            (token_id, enrolment["id"]), "enrolment_locked")
    refused(app_conn, "UPDATE enrolments SET failures = 0 WHERE id = %s", (enrolment["id"],), "enrolment_locked")
    with pytest.raises(psycopg.errors.CheckViolation):
        app_conn.execute("UPDATE enrolments SET failures = 6 WHERE id = %s", (enrolment["id"],))
    app_conn.rollback()


async def test_a_revocation_is_final_and_codes_are_stored_hashed(engine, enrolment, app_conn):
    device = await Access(engine).claim(enrolment["code"], "test")
    await Access(engine).revoke(device["id"], "test")
    refused(app_conn, "UPDATE api_tokens SET revoked_at = NULL WHERE id = %s", (device["id"],), "token_revoked")
    stored = app_conn.execute("SELECT code_hash, selector FROM enrolments WHERE id = %s",
                              (enrolment["id"],)).fetchone()
    assert bytes(stored[0]) == model.code_hash(model.normalize_code(enrolment["code"]))
    assert model.normalize_code(enrolment["code"]) not in str(stored)
    hashes = app_conn.execute("SELECT token_hash FROM api_tokens WHERE id = %s", (device["id"],)).fetchone()
    assert bytes(hashes[0]) == model.hash_token(device["token"])
