"""A revoked token is refused at once by every server process: two `pointsbank serve`
subprocesses on the same database; revoke through one, ask the other straight away."""
from __future__ import annotations

import httpx

from api.auth import create_token
from bench.harness import served_app
from earning.service import Earning


async def test_a_token_revoked_on_one_server_is_refused_by_the_other_at_once(
        database_url, engine, ledger, realm, tmp_path):
    earning = Earning(engine, ledger)
    town = await earning.create_town(realm, "城关镇")
    station = await earning.create_station(realm, town["id"], "城关站", "urban")
    resident = await earning.register_resident(realm, station["id"], f"REV{realm}")
    admin = await create_token(engine, "admin", realm)
    with served_app(database_url, POINTSBANK_DATA_DIR=str(tmp_path / "a")) as first, \
            served_app(database_url, POINTSBANK_DATA_DIR=str(tmp_path / "b")) as second:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{first}") as one, \
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{second}") as two:
            made = await one.post("/v1/enrolments", json={"realm": realm, "role": "resident",
                                                          "resident_id": resident["id"]},
                                  headers={"Authorization": f"Bearer {admin}"})
            device = (await one.post("/v1/enrolments/claim", json={"code": made.json()["code"]})).json()
            headers = {"Authorization": f"Bearer {device['token']}"}
            for _ in range(3):   # warm: the second process has used this token
                assert (await two.get("/v1/whoami", headers=headers)).status_code == 200
            revoked = await one.delete(f"/v1/tokens/{device['token_id']}",
                                       headers={"Authorization": f"Bearer {admin}"})
            assert revoked.status_code == 200, revoked.text
            answer = await two.get("/v1/whoami", headers=headers)
            assert answer.status_code == 401
            assert answer.json()["code"] == "token_revoked"
