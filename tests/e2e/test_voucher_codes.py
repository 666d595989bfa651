"""A voucher code is cash (issue 11 item 3): its resident holds it; the organizer token
that issued it may print it for `PRINT_WINDOW_S`; everyone else sees the voucher
without `code`, `short_code` or renderings."""
from __future__ import annotations

from datetime import timedelta

from api.auth import create_token
from redemption import codec, model
from tests.e2e.conftest import bearer
from tests.e2e.test_vouchers_http import issue, merchant_with_token
from tests.redemption_support import fund_resident, registered_resident

SECRET_FIELDS = ("code", "short_code", "qr_png_url", "qr_svg_url", "pdf_url")


def withheld(voucher: dict) -> bool:
    return all(voucher[field] is None for field in SECRET_FIELDS)


async def test_an_auditor_listing_issued_vouchers_gets_no_codes(client, tokens, ledger):
    await fund_resident(ledger, tokens.realm, 1)
    mine = (await issue(client, tokens, "codes-1")).json()
    assert mine["code"].startswith(codec.PREFIX) and mine["short_code"]
    for role in ("auditor", "admin", "organizer"):
        listed = await client.get("/v1/vouchers", params={"status": "issued"}, headers=getattr(tokens, role))
        assert listed.status_code == 200 and listed.json()["items"], role
        assert all(withheld(voucher) for voucher in listed.json()["items"]), role
        read = await client.get(f"/v1/vouchers/{mine['id']}", headers=getattr(tokens, role))
        assert read.status_code == 200 and withheld(read.json()) and read.json()["amount"] == 100, role
        png = await client.get(f"/v1/vouchers/{mine['id']}/qr.png", headers=getattr(tokens, role))
        assert png.status_code == 403 and png.json()["code"] == "voucher_code_withheld", role
    own = await client.get("/v1/vouchers", params={"status": "issued"}, headers=tokens.resident)
    assert [v["code"] for v in own.json()["items"]] == [mine["code"]]


async def test_a_merchant_cannot_get_a_code_it_was_not_shown(client, tokens, ledger, engine):
    await fund_resident(ledger, tokens.realm, 1)
    _, merchant_headers = await merchant_with_token(client, tokens, engine)
    voucher = (await issue(client, tokens, "codes-2")).json()
    for path in (f"/v1/vouchers/{voucher['id']}", f"/v1/vouchers/{voucher['id']}/qr.svg", "/v1/vouchers"):
        assert (await client.get(path, headers=merchant_headers)).status_code == 403, path
    # The ledger shows every voucher's serial (entry references); the short code is not made of it.
    entry = (await client.get(f"/v1/entries/{voucher['hold_entry_id']}", headers=tokens.auditor)).json()
    serial = bytes.fromhex(entry["reference"].removeprefix("voucher:"))
    guessed = codec.format_short_code(codec.short_code(serial))
    assert guessed != voucher["short_code"]
    tried = await client.post("/v1/redemptions", json={"short_code": guessed},
                              headers={**merchant_headers, "Idempotency-Key": "guess"})
    assert tried.status_code == 404 and tried.json()["code"] == "voucher_not_found"
    assert (await client.get(f"/v1/vouchers/{voucher['id']}", headers=tokens.resident)).json()["status"] == "issued"


async def test_the_issuing_organizer_prints_within_the_window_and_not_after(client, tokens, ledger, engine,
                                                                           monkeypatch):
    resident = await registered_resident(engine, ledger, tokens.realm)
    printer = bearer(await create_token(engine, "organizer", tokens.realm))
    issued = await client.post("/v1/vouchers", json={"asset": "civic", "amount": 30, "resident_id": resident},
                               headers={**printer, "Idempotency-Key": "paper-1"})
    assert issued.status_code == 201 and issued.json()["code"].startswith(codec.PREFIX)
    voucher_id = issued.json()["id"]
    pdf = await client.get(f"/v1/vouchers/{voucher_id}/voucher.pdf", headers=printer)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    colleague = await client.get(f"/v1/vouchers/{voucher_id}", headers=tokens.organizer)
    assert colleague.status_code == 200 and withheld(colleague.json())

    vouchers = client.app.state.services.vouchers
    now = vouchers.clock()
    monkeypatch.setattr(vouchers, "clock", lambda: now + timedelta(seconds=model.PRINT_WINDOW_S - 5))
    assert (await client.get(f"/v1/vouchers/{voucher_id}/qr.png", headers=printer)).status_code == 200
    monkeypatch.setattr(vouchers, "clock", lambda: now + timedelta(seconds=model.PRINT_WINDOW_S + 5))
    later = await client.get(f"/v1/vouchers/{voucher_id}", headers=printer)
    assert later.status_code == 200 and withheld(later.json())
    assert (await client.get(f"/v1/vouchers/{voucher_id}/voucher.pdf", headers=printer)).status_code == 403
    replayed = await client.post("/v1/vouchers", json={"asset": "civic", "amount": 30, "resident_id": resident},
                                 headers={**printer, "Idempotency-Key": "paper-1"})
    assert replayed.status_code == 201 and withheld(replayed.json())
