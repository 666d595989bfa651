"""The live OpenAPI document (`/schema/openapi.json`) says what the service does, one
operation at a time: a 2xx schema with properties, errors as problem+json under their
statuses with real codes, the bearer scheme exactly where a token is needed, the
Idempotency-Key required exactly where the handler requires it (and a call without it
answers `idempotency_key_required`), unknown fields refused by every request body."""
from __future__ import annotations

import inspect
import re
from typing import Any

import jsonschema_rs
import pytest

from api.app import create_app
from api.errors import PROBLEM_MEDIA_TYPE, status_of
from api.settings import Settings
from ledger import errors

PROBLEM_REF = "#/components/schemas/Problem"
JSON = "application/json"
BINARY_MEDIA_TYPES = ("application/pdf", "image/png", "image/svg+xml", "text/csv")
PUBLIC = {("POST", "/v1/enrolments/claim"), ("GET", "/.well-known/pointsbank-keys.json")}
SHARED_STATUSES = ("400", "503")           # on every operation
AUTHENTICATED_STATUSES = ("401", "403")    # on every operation that takes a token
NO_DATABASE = "postgresql://unused@127.0.0.1:1/unused"   # the document needs none


def operations_of(app: Any) -> list[tuple[str, str]]:
    document = app.openapi_schema.to_schema()
    return sorted((method.upper(), path) for path, item in document["paths"].items() for method in item)


APP = create_app(Settings(), database_url=NO_DATABASE)
OPERATIONS = operations_of(APP)
HANDLERS = {(method, route.path_format): handler.fn
            for route in APP.routes for handler in getattr(route, "route_handlers", [])
            for method in handler.http_methods if handler.resolve_include_in_schema()}


def operation_id(operation: tuple[str, str]) -> str:
    return f"{operation[0]} {operation[1]}"


@pytest.fixture(scope="module")
async def document(client) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    return response.json()


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def has_properties(document: dict[str, Any], schema: dict[str, Any]) -> bool:
    """An object with properties; a list of them; or alternatives that all are."""
    schema = resolve(document, schema)
    if "oneOf" in schema:
        return all(has_properties(document, choice) for choice in schema["oneOf"])
    if schema.get("type") == "array":
        return has_properties(document, schema["items"])
    return bool(schema.get("properties"))


def operation(document: dict[str, Any], key: tuple[str, str]) -> dict[str, Any]:
    return document["paths"][key[1]][key[0].lower()]


def test_the_document_lists_every_operation():
    assert len(OPERATIONS) > 70
    assert set(OPERATIONS) <= set(HANDLERS)


@pytest.mark.parametrize("key", OPERATIONS, ids=operation_id)
async def test_every_operation_answers_a_2xx_schema_with_properties(document, key):
    responses = operation(document, key)["responses"]
    successes = {status: r for status, r in responses.items() if status.startswith("2")}
    assert successes
    for status, success in successes.items():
        content = success.get("content") or {}
        assert content, f"{status} has no content"
        for media_type, body in content.items():
            if media_type in BINARY_MEDIA_TYPES:
                continue
            assert media_type == JSON and has_properties(document, body["schema"]), (status, media_type, body)


@pytest.mark.parametrize("key", OPERATIONS, ids=operation_id)
async def test_every_json_answer_has_an_example_that_fits_its_schema(document, key):
    for status, answer in operation(document, key)["responses"].items():
        body = (answer.get("content") or {}).get(JSON)
        if body is None:
            continue
        assert body.get("examples"), f"{status} has no example"
        validator = jsonschema_rs.Draft202012Validator({**body["schema"], "components": document["components"]})
        for example in body["examples"].values():
            validator.validate(example["value"])


@pytest.mark.parametrize("key", OPERATIONS, ids=operation_id)
async def test_every_error_is_problem_json_with_real_codes(document, key):
    responses = operation(document, key)["responses"]
    failures = {status: r for status, r in responses.items() if status[0] in "45"}
    public = key in PUBLIC
    expected = SHARED_STATUSES + (() if public else AUTHENTICATED_STATUSES)
    assert set(expected) <= set(failures), sorted(failures)
    registered = known_codes()
    for status, answer in failures.items():
        assert list(answer["content"]) == [PROBLEM_MEDIA_TYPE], (status, answer["content"])
        body = answer["content"][PROBLEM_MEDIA_TYPE]
        assert body["schema"] == {"$ref": PROBLEM_REF}
        codes = [example["summary"] for example in body["examples"].values()]
        assert codes, f"{status} names no code"
        for code in codes:
            assert code in registered, f"{code} is not a code the service has"
            assert str(_status_of(registered[code])) == status, (code, status)


def known_codes() -> dict[str, type[errors.DomainError]]:
    """Every code a domain error class has: the registered ones and the categories'."""
    pending, found = [errors.DomainError], {}
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return {**found, **errors.registered()}


def _status_of(cls: type[errors.DomainError]) -> int:
    return status_of(cls)


def test_the_problem_schema_is_what_the_service_sends(document):
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "code", "detail"}
    assert "additionalProperties" not in problem   # an error's context adds fields


@pytest.mark.parametrize("key", OPERATIONS, ids=operation_id)
async def test_the_bearer_scheme_is_on_every_operation_that_takes_a_token(document, key):
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    security = operation(document, key).get("security")
    assert security == (None if key in PUBLIC else [{"bearer": []}])
    takes_token = "principal" in inspect.signature(HANDLERS[key]).parameters
    assert takes_token == (key not in PUBLIC)


async def test_reads_without_a_token_are_401_and_public_operations_need_none(client, document):
    for method, path in OPERATIONS:
        if method != "GET":
            continue
        concrete = re.sub(r"{\w+}", "1", re.sub(r"{(code|realm)}", "430104", path))
        query = {p["name"]: "430104" if p["name"] == "realm" else "1"
                 for p in operation(document, (method, path)).get("parameters", [])
                 if p["in"] == "query" and p.get("required")}
        response = await client.get(concrete, params=query)
        expected = 200 if (method, path) in PUBLIC else 401
        assert response.status_code == expected, (path, response.text)


@pytest.mark.parametrize("key", OPERATIONS, ids=operation_id)
async def test_request_bodies_refuse_unknown_fields(document, key):
    body = operation(document, key).get("requestBody")
    if body is None:
        return
    schema = body["content"][JSON]["schema"]
    for choice in schema.get("oneOf", [schema]):
        resolved = resolve(document, choice)
        if resolved.get("type") == "null":
            continue
        assert resolved.get("additionalProperties") is False, resolved.get("title")


def requires_key(handler: Any) -> bool:
    return "required_idempotency_key(" in inspect.getsource(handler)


@pytest.mark.parametrize("key", OPERATIONS, ids=operation_id)
async def test_idempotency_key_is_required_exactly_where_the_handler_requires_it(document, key):
    headers = [p for p in operation(document, key).get("parameters", []) if p["in"] == "header"]
    documented = [p for p in headers if p["name"] == "Idempotency-Key"]
    assert bool(documented) == requires_key(HANDLERS[key])
    for parameter in documented:
        assert parameter["required"] is True and parameter["schema"]["type"] == "string"
        assert "409" in operation(document, key)["responses"]


def without_key_calls(realm: str) -> dict[tuple[str, str], tuple[str, str, Any]]:
    """For each operation that requires the key: (role, concrete path, body) of a call
    that gets as far as the key check."""
    return {
        ("POST", "/v1/entries"): ("admin", "/v1/entries", {"realm": realm, "postings": []}),
        ("POST", "/v1/entries/{entry_id}/reversal"): ("admin", "/v1/entries/1/reversal", None),
        ("POST", "/v1/vouchers"): ("resident", "/v1/vouchers", {"asset": "civic", "amount": 1}),
        ("POST", "/v1/vouchers/{voucher_id}/cancel"): ("resident", "/v1/vouchers/1/cancel", None),
        ("POST", "/v1/redemptions"): ("merchant", "/v1/redemptions", {"code": "PB1:x"}),
        ("POST", "/v1/redemptions/batch"): ("merchant", "/v1/redemptions/batch", {"items": []}),
        ("POST", "/v1/activities/{activity_id}/attendance"): ("admin", "/v1/activities/1/attendance",
                                                               {"records": []}),
        ("POST", "/v1/budgets/funding"): ("admin", "/v1/budgets/funding",
                                          {"realm": realm, "asset": "civic", "amount": 1}),
        ("POST", "/v1/rewards/{item_id}/redeem"): ("resident", "/v1/rewards/1/redeem", {}),
        ("POST", "/v1/settlements"): ("admin", "/v1/settlements", {"realm": realm, "to": "2026-01-01"}),
        # the service loop (orders, feedback)
        ("POST", "/v1/volunteers"): ("resident", "/v1/volunteers", {"skills": [], "station_ids": []}),
        ("POST", "/v1/volunteers/{resident_id}/decision"): ("organizer", "/v1/volunteers/1/decision",
                                                            {"approve": True}),
        ("POST", "/v1/service-requests"): ("resident", "/v1/service-requests",
                                           {"category": "x", "description": "x",
                                            "wanted_from": "2026-01-01T09:00:00Z",
                                            "wanted_until": "2026-01-01T10:00:00Z"}),
        **{("POST", f"/v1/service-requests/{{request_id}}/{step}"): (role, f"/v1/service-requests/1/{step}", body)
           for step, role, body in (("dispatch", "organizer", {"volunteer_id": 1}), ("accept", "resident", None),
                                    ("decline", "resident", None), ("done", "resident", {"minutes": 1}),
                                    ("confirm", "resident", {}), ("cancel", "resident", None))},
        ("POST", "/v1/activities/{activity_id}/ratings"): ("resident", "/v1/activities/1/ratings", {"rating": 5}),
        ("POST", "/v1/alerts/{alert_id}/acknowledge"): ("organizer", "/v1/alerts/1/acknowledge", None),
        # reservations (resources)
        ("POST", "/v1/resource-providers"): ("admin", "/v1/resource-providers", {"realm": realm, "name": "x"}),
        ("POST", "/v1/resources"): ("admin", "/v1/resources",
                                    {"provider_id": 1, "kind": "health", "title": "x", "scope": "realm"}),
        ("POST", "/v1/resources/{resource_id}/slots"): ("admin", "/v1/resources/1/slots",
                                                        {"starts_at": "x", "ends_at": "x", "capacity": 1}),
        ("POST", "/v1/resources/{resource_id}/slots/weekly"): (
            "admin", "/v1/resources/1/slots/weekly",
            {"first_starts_at": "x", "duration_min": 60, "weeks": 1, "capacity": 1}),
        ("POST", "/v1/resources/{resource_id}/slots/{slot_id}/cancel"): ("admin", "/v1/resources/1/slots/1/cancel",
                                                                         None),
        ("POST", "/v1/reservations"): ("resident", "/v1/reservations", {"slot_id": 1}),
        ("POST", "/v1/reservations/{reservation_id}/cancel"): ("admin", "/v1/reservations/1/cancel", None),
        ("POST", "/v1/reservations/{reservation_id}/attended"): ("admin", "/v1/reservations/1/attended", None),
        ("POST", "/v1/reservations/{reservation_id}/no-show"): ("admin", "/v1/reservations/1/no-show", None),
        ("POST", "/v1/webhooks"): ("admin", "/v1/webhooks", {"realm": realm, "url": "https://example.org/hook"}),
        ("POST", "/v1/recognitions"): ("admin", "/v1/recognitions",
                                       {"realm": realm, "resident_id": 1, "year": 2026, "citation": "x"}),
    }


KEYED = [key for key in OPERATIONS if key in HANDLERS and requires_key(HANDLERS[key])]


@pytest.mark.parametrize("key", KEYED, ids=operation_id)
async def test_a_call_without_the_key_answers_the_stable_code(client, tokens, key):
    calls = without_key_calls(tokens.realm)
    assert key in calls, f"add a call for {key} to without_key_calls"
    role, path, body = calls[key]
    response = await client.request(key[0], path, headers=getattr(tokens, role),
                                    **({"json": body} if body is not None else {}))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    assert response.json()["code"] == "idempotency_key_required"
