"""What the pages need from the API: a voucher preview for the merchant (nothing moves),
a resident's history in plain words, the latest checkpoint with its signature checked,
and the 500 advice that fits the method; each walked by every role."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from api.auth import create_token
from earning.service import Earning
from tests.e2e.conftest import bearer
from tests.e2e.test_vouchers_http import merchant_with_token


@pytest.fixture
async def place(engine, ledger, tokens):
    """A resident who earned 14 points at a talk, a merchant, and their tokens."""
    earning = Earning(engine, ledger)
    await earning.fund_budget(tokens.realm, "civic", 1_000, "test", f"fund-{tokens.realm}")
    town = await earning.create_town(tokens.realm, "城关镇")
    station = await earning.create_station(tokens.realm, town["id"], "城关站", "urban")
    resident = await earning.register_resident(tokens.realm, station["id"], f"P{tokens.realm}", "张三")
    other = await earning.register_resident(tokens.realm, station["id"], f"Q{tokens.realm}", "李四")
    starts = datetime.now(timezone.utc) - timedelta(hours=3)
    activity = await earning.create_activity(tokens.realm, "talk", station["id"], "垃圾分类宣讲",
                                             starts, starts + timedelta(hours=2), "test")
    await earning.record_attendance(activity, [(resident["id"], 120)], "test", f"att-{activity['id']}")
    return {"resident": resident, "other": other, "station": station,
            "resident_headers": bearer(await create_token(engine, "resident", tokens.realm,
                                                          resident_id=resident["id"])),
            "other_headers": bearer(await create_token(engine, "resident", tokens.realm,
                                                       resident_id=other["id"])),
            "station_organizer": bearer(await create_token(engine, "organizer", tokens.realm,
                                                           station_id=station["id"]))}


async def test_preview_shows_the_voucher_and_moves_nothing_then_history_says_spent_and_returned(
        client, tokens, place, engine, ledger):
    merchant, merchant_headers = await merchant_with_token(client, tokens, engine)
    issued = await client.post("/v1/vouchers", json={"asset": "civic", "amount": 10},
                               headers={**place["resident_headers"], "Idempotency-Key": "pv-1"})
    assert issued.status_code == 201, issued.text
    voucher = issued.json()

    preview = await client.post("/v1/redemptions/preview", json={"short_code": voucher["short_code"]},
                                headers=merchant_headers)
    assert preview.status_code == 200, preview.text
    seen = preview.json()
    assert (seen["voucher_id"], seen["amount"], seen["status"], seen["redeemable"], seen["refusal"]) == (
        voucher["id"], 10, "issued", True, None)
    assert "code" not in seen and "short_code" not in seen
    assert (await ledger.owned_account(tokens.realm, "merchant", "civic", merchant_id=merchant["id"]))["balance"] == 0
    for who in (tokens.admin, tokens.auditor, tokens.organizer, place["resident_headers"]):
        refused = await client.post("/v1/redemptions/preview", json={"code": voucher["code"]}, headers=who)
        assert refused.status_code == 403, refused.text
    bad = await client.post("/v1/redemptions/preview", json={"short_code": "ABCD-EFGH-JKMN-Z"},
                            headers=merchant_headers)
    assert bad.status_code == 422 and bad.json()["code"] == "short_code_invalid"

    taken = await client.post("/v1/redemptions", json={"code": voucher["code"], "amount": 4},
                              headers={**merchant_headers, "Idempotency-Key": "pv-take"})
    assert taken.status_code == 201, taken.text
    again = await client.post("/v1/redemptions/preview", json={"code": voucher["code"]}, headers=merchant_headers)
    assert (again.json()["redeemable"], again.json()["refusal"], again.json()["captured_amount"]) == (
        False, "voucher_already_redeemed", 4)

    history = await client.get(f"/v1/residents/{place['resident']['id']}/history?asset=civic",
                               headers=place["resident_headers"])
    assert history.status_code == 200, history.text
    items = history.json()["items"]
    assert [(i["what"], i["amount"]) for i in items] == [("spent", 6), ("voucher_made", -10), ("earned", 14)]
    assert items[0]["merchant_name"] == "供销超市" and (items[0]["spent"], items[0]["returned"]) == (4, 6)
    assert items[1]["voucher_id"] == voucher["id"] and items[1]["voucher_status"] == "partially_redeemed"
    assert items[2]["activity_title"] == "垃圾分类宣讲" and items[2]["balance_after"] == 14
    assert history.json()["balance"] == 14 - 10 + 6


async def test_history_is_read_by_the_resident_its_organizers_admin_and_auditor_only(client, tokens, place,
                                                                                       engine):
    path = f"/v1/residents/{place['resident']['id']}/history"
    merchant, merchant_headers = await merchant_with_token(client, tokens, engine)
    for who in (place["resident_headers"], place["station_organizer"], tokens.organizer, tokens.admin,
                tokens.auditor):
        answer = await client.get(path, headers=who)
        assert answer.status_code == 200, answer.text
    for who in (place["other_headers"], merchant_headers, tokens.other_realm_admin):
        assert (await client.get(path, headers=who)).status_code == 403
    assert (await client.get(path + "?asset=gold", headers=tokens.admin)).status_code == 422
    assert (await client.get(path + "?cursor=bogus", headers=tokens.admin)).status_code in (400, 422)


async def test_the_latest_checkpoint_says_its_signature_verifies(client, tokens, place):
    sealed = await client.post(f"/v1/audit/checkpoints?realm={tokens.realm}", headers=tokens.admin)
    assert sealed.status_code == 201, sealed.text
    for who in (tokens.auditor, tokens.admin):
        head = await client.get(f"/v1/audit/checkpoints/{tokens.realm}/latest", headers=who)
        assert head.status_code == 200 and head.json()["signature_valid"] is True
    for who in (tokens.organizer, place["resident_headers"], tokens.other_realm_admin):
        assert (await client.get(f"/v1/audit/checkpoints/{tokens.realm}/latest", headers=who)).status_code == 403


def test_the_500_advice_fits_the_method():
    from litestar.testing import RequestFactory

    from api.errors import internal_handler

    factory = RequestFactory()
    get_answer = internal_handler(factory.get("/v1/x"), RuntimeError("boom")).content["detail"]
    post_answer = internal_handler(factory.post("/v1/x"), RuntimeError("boom")).content["detail"]
    assert "Idempotency-Key" not in get_answer and "Idempotency-Key" in post_answer
