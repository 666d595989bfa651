"""The merchant registry over HTTP: accounts opened with the merchant, scopes, status."""


async def create(client, tokens, kind="general", name="供销超市"):
    response = await client.post("/v1/merchants", headers=tokens.admin,
                                 json={"realm": tokens.realm, "kind": kind, "name": name})
    assert response.status_code == 201, response.text
    return response.json()


async def test_an_agri_shop_opens_civic_and_agri_accounts_a_shop_only_civic(client, tokens, ledger):
    shop = await create(client, tokens, "general")
    agri = await create(client, tokens, "agri_shop", "助农店")
    assert set(shop["accounts"]) == {"civic"} and set(agri["accounts"]) == {"civic", "agri"}
    account = await ledger.owned_account(tokens.realm, "merchant", "agri", merchant_id=agri["id"])
    assert account["id"] == agri["accounts"]["agri"] and account["balance"] == 0
    read = await client.get(f"/v1/merchants/{agri['id']}", headers=tokens.organizer)
    assert read.json()["kind"] == "agri_shop" and read.json()["status"] == "active"


async def test_bad_kind_and_wrong_roles_are_refused(client, tokens):
    bad = await client.post("/v1/merchants", headers=tokens.admin,
                            json={"realm": tokens.realm, "kind": "bank", "name": "x"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_merchant_kind"
    for headers in (tokens.organizer, tokens.other_realm_admin):
        refused = await client.post("/v1/merchants", headers=headers,
                                    json={"realm": tokens.realm, "kind": "general", "name": "x"})
        assert refused.status_code == 403
    missing = await client.get("/v1/merchants/999999999", headers=tokens.admin)
    assert missing.status_code == 404 and missing.json()["code"] == "merchant_not_found"


async def test_list_pages_with_a_cursor(client, tokens):
    made = [(await create(client, tokens, name=f"店{i}"))["id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        params = {"realm": tokens.realm, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/merchants", params=params, headers=tokens.resident)).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made
    bad = await client.get("/v1/merchants", params={"realm": tokens.realm, "cursor": "zz"},
                           headers=tokens.admin)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_cursor"


async def test_status_moves_and_closed_is_final(client, tokens, owner_conn):
    shop = await create(client, tokens)
    url = f"/v1/merchants/{shop['id']}/status"
    assert (await client.post(url, json={"status": "suspended"}, headers=tokens.admin)).json()["status"] == "suspended"
    assert (await client.post(url, json={"status": "active"}, headers=tokens.admin)).json()["status"] == "active"
    assert (await client.post(url, json={"status": "closed"}, headers=tokens.admin)).status_code == 200
    reopened = await client.post(url, json={"status": "active"}, headers=tokens.admin)
    assert reopened.status_code == 409 and reopened.json()["code"] == "merchant_closed"
    refused = await client.post(url, json={"status": "active"}, headers=tokens.organizer)
    assert refused.status_code == 403


def test_the_database_keeps_a_closed_merchant_closed_and_refuses_deletes(app_conn, realm_with_merchant):
    import psycopg
    import pytest

    realm, merchant_id = realm_with_merchant
    app_conn.execute("UPDATE merchants SET status = 'closed' WHERE id = %s", (merchant_id,))
    app_conn.commit()
    with pytest.raises(psycopg.errors.RaiseException, match="merchant_closed"):
        app_conn.execute("UPDATE merchants SET status = 'active' WHERE id = %s", (merchant_id,))
    app_conn.rollback()
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_conn.execute("DELETE FROM merchants WHERE id = %s", (merchant_id,))
    app_conn.rollback()
