"""The pages over HTTP: served by the app itself, locked to this origin, and /v1/whoami."""
from __future__ import annotations

import re

import pytest

PAGES = ("/app/", "/app/resident", "/app/merchant", "/app/audit", "/app/enrol", "/app/activities",
         "/app/organizer")
ASSET_REFERENCE = re.compile(r'(?:src|href)="([^"]*)"')


@pytest.mark.parametrize("path", PAGES)
async def test_each_page_is_chinese_html_that_loads_only_from_this_origin(client, path):
    answer = await client.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    policy = answer.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "http" not in policy
    assert answer.headers["cache-control"] == "no-store"
    html = answer.text
    assert '<html lang="zh-CN">' in html and "文明积分银行" in html
    references = ASSET_REFERENCE.findall(html)
    assert references and all(ref.startswith("/") and not ref.startswith("//") for ref in references)
    for ref in references:
        if ref.startswith("/static/"):
            assert (await client.get(ref)).status_code == 200, ref


async def test_the_root_leads_to_the_pages(client):
    answer = await client.get("/", follow_redirects=False)
    assert answer.status_code in (301, 302, 307, 308) and answer.headers["location"] == "/app/"


async def test_the_vendored_qr_decoder_is_served_with_its_licence(client):
    decoder = await client.get("/static/vendor/jsqr/jsQR.js")
    assert decoder.status_code == 200 and "jsQR" in decoder.text
    licence = await client.get("/static/vendor/jsqr/LICENSE")
    assert licence.status_code == 200 and "Apache License" in licence.text


async def test_a_missing_static_file_is_a_problem_not_a_crash(client):
    answer = await client.get("/static/nothing-here.js")
    assert answer.status_code == 404 and answer.json()["code"] == "not_found"


async def test_whoami_tells_the_pages_who_the_token_is(client, tokens):
    resident = await client.get("/v1/whoami", headers=tokens.resident)
    assert resident.status_code == 200
    assert resident.json() | {"token_id": 0} == {
        "token_id": 0, "role": "resident", "realm": tokens.realm, "station_id": None,
        "merchant_id": None, "resident_id": 1}
    auditor = await client.get("/v1/whoami", headers=tokens.auditor)
    assert auditor.json()["role"] == "auditor" and auditor.json()["resident_id"] is None


async def test_whoami_without_a_good_token_is_401(client):
    missing = await client.get("/v1/whoami")
    assert missing.status_code == 401 and missing.json()["code"] == "unauthorized"
    wrong = await client.get("/v1/whoami", headers={"Authorization": "Bearer pb_nope"})
    assert wrong.status_code == 401 and wrong.json()["code"] == "unauthorized"


async def test_pages_name_their_charset_once(client):
    response = await client.get("/app/resident")
    assert response.headers["content-type"].count("charset") == 1
