"""Fuzzing in CI (issue 11): schemathesis generates requests for every operation of the
live OpenAPI document, valid-looking and invalid, and sends them as each role to a real
`pointsbank serve`. No answer may be a 5xx, and every answer must conform to the
document (schemathesis' `response_schema_conformance`: a 2xx body to the operation's
Struct schema, an error to the problem+json schema under its status); afterwards the
realm's audit passes.

`FUZZ_EXAMPLES` per operation, role and mode (`POINTSBANK_FUZZ_EXAMPLES`) keeps the run
short (derandomized, so every run sends the same requests and a failure reproduces);
`make fuzz` sends more."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import hypothesis
import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance

from bench.harness import served_app
from api.auth import create_token
from merchants.service import Merchants
from tests.e2e.conftest import bearer
from tests.redemption_support import registered_resident

FUZZ_EXAMPLES = int(os.environ.get("POINTSBANK_FUZZ_EXAMPLES", 3))
CHECKS = [not_a_server_error, response_schema_conformance]
REQUEST_TIMEOUT_S = 30
ROLES = ("admin", "organizer", "merchant", "auditor", "resident")
# Valid-looking requests as every role; invalid ones (refused while decoding, before the
# role matters) as the admin, whose token lets a request go furthest.
PLAN = ([(role, schemathesis.GenerationMode.POSITIVE) for role in ROLES]
        + [("admin", schemathesis.GenerationMode.NEGATIVE)])


@pytest.fixture(scope="module")
def served(database_url: str, tmp_path_factory) -> Iterator[tuple[str, dict[str, str]]]:
    """A real service (no background sealing) and the environment its CLI shares."""
    env = {"POINTSBANK_DATA_DIR": str(tmp_path_factory.mktemp("fuzzed")), "POINTSBANK_SEAL_INTERVAL_S": "0"}
    with served_app(database_url, **env) as port:
        yield f"http://127.0.0.1:{port}", env


def real_path_parameters(path: str, known: dict[str, object]) -> dict[str, object]:
    """Ids of things that exist, for the path's parameters we have one for (a random id
    mostly finds nothing; a real one takes a request through the whole route)."""
    names = re.findall(r"{(\w+)}", path)
    if path.startswith("/v1/activity-types/"):
        return {"code": "talk"}
    return {name: known[name] for name in names if name in known}


def fuzz(operation, session: requests.Session, base_url: str, headers: dict[str, str], mode,
         failures: list[str], path_parameters: dict[str, object] | None = None) -> None:
    @hypothesis.settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=True,
                         phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
                         suppress_health_check=list(hypothesis.HealthCheck),
                         verbosity=hypothesis.Verbosity.quiet)
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def send(case) -> None:
        try:
            case.call_and_validate(base_url=base_url, session=session, headers=headers,
                                   checks=CHECKS, timeout=REQUEST_TIMEOUT_S)
        except requests.exceptions.InvalidHeader:
            return  # a generated header value the client itself will not send
        except (AssertionError, FailureGroup) as failure:
            failures.append(f"{operation.label} as {headers['X-Role']}: {str(failure)[:600]}")

    try:
        send()
    except hypothesis.errors.Unsatisfiable:
        pass  # nothing to make invalid (an operation without parameters, in negative mode)


async def a_little_world(base_url: str, headers: dict[str, dict[str, str]], ledger, realm: str,
                         resident: int, merchant_id: int) -> dict[str, object]:
    """A voucher, an activity and a catalogue item to aim at; their ids by parameter name."""
    def post(path: str, role: str, body: dict) -> dict:
        answer = requests.post(f"{base_url}{path}", json=body, timeout=REQUEST_TIMEOUT_S,
                               headers={**headers[role], "Idempotency-Key": f"world-{path}"})
        assert answer.status_code == 201, answer.text
        return answer.json()

    voucher = post("/v1/vouchers", "resident", {"asset": "civic", "amount": 10})
    item = post(f"/v1/merchants/{merchant_id}/catalogue", "merchant", {"name": "毛巾", "price": 5})
    wallet = await ledger.owned_account(realm, "resident", "civic", resident_id=resident)
    station = requests.get(f"{base_url}/v1/residents/{resident}", headers=headers["admin"],
                           timeout=REQUEST_TIMEOUT_S).json()["station_id"]
    activity = post("/v1/activities", "admin", {
        "realm": realm, "activity_type": "talk", "station_id": station, "title": "宣讲",
        "starts_at": "2026-01-05T09:00:00+08:00", "ends_at": "2026-01-05T11:00:00+08:00"})
    return {"code": realm, "realm": realm, "seq": 1, "account_id": wallet["id"], "voucher_id": voucher["id"],
            "entry_id": voucher["hold_entry_id"], "resident_id": resident, "merchant_id": merchant_id,
            "item_id": item["id"], "station_id": station, "activity_id": activity["id"]}


async def test_no_operation_answers_a_5xx_as_any_role(served, tokens, ledger, engine, database_url):
    base_url, env = served
    realm = tokens.realm
    resident = await registered_resident(engine, ledger, realm)
    merchant = await Merchants(engine, ledger).create(realm, "general", "模糊测试小店")
    headers_by_role = {
        "admin": tokens.admin, "organizer": tokens.organizer, "auditor": tokens.auditor,
        "merchant": bearer(await create_token(engine, "merchant", realm, merchant_id=merchant["id"])),
        "resident": bearer(await create_token(engine, "resident", realm, resident_id=resident)),
    }
    known = await a_little_world(base_url, headers_by_role, ledger, realm, resident, merchant["id"])
    schema = schemathesis.openapi.from_url(f"{base_url}/schema/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50
    failures: list[str] = []
    session = requests.Session()  # one keep-alive connection for the whole run
    for number, operation in enumerate(operations, 1):
        started = time.perf_counter()
        real = real_path_parameters(operation.path, known)
        for role, mode in PLAN:
            fuzz(operation, session, base_url, {**headers_by_role[role], "X-Role": role}, mode, failures,
                 real if mode == schemathesis.GenerationMode.POSITIVE else None)
        print(f"fuzzed {number}/{len(operations)} {operation.label} ({time.perf_counter() - started:.1f} s)",
              file=sys.stderr)
    assert not failures, "\n\n".join(failures[:20])
    audit = subprocess.run([sys.executable, "-m", "api.cli", "audit", "--realm", tokens.realm],
                           env={**os.environ, **env, "DATABASE_URL": database_url},
                           capture_output=True, text=True, timeout=300)
    assert audit.returncode == 0, audit.stdout + audit.stderr
