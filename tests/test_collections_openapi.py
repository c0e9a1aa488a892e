"""/api/v1/collections agrees with its OpenAPI description when a valid token is sent (the
shared tests/test_schemathesis.py has none, so it only meets the 401s): schemathesis generates
valid and invalid requests for every collection operation, on SQLite and PostgreSQL, with the
same checks as that module."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.modes import GenerationMode

from dailypapers.web.app import create_app
from tests.test_collections import GENEROUS, _auth
from tests.test_schemathesis import CHECKS, MAX_EXAMPLES
from tests.test_votes import P1, P2, _load, _users


@pytest.fixture
def token_and_schema(engine, settings):
    _load(engine, {P1: (1, "08:00"), P2: (2, "09:00")})
    (_uid, token), (_other, other_token) = _users(engine, 2)
    app = create_app(settings.model_copy(update=GENEROUS), engine)
    from fastapi.testclient import TestClient

    with TestClient(app) as client:  # a public and a private collection to meet
        for name, public, who in (("Open", True, token), ("Closed", False, other_token)):
            made = client.post("/api/v1/collections", headers=_auth(who),
                               json={"name": name, "public": public})
            client.put(f"/api/v1/collections/{made.json()['id']}/papers/{P1}",
                       headers=_auth(who))
    return token, schemathesis.openapi.from_asgi("/api/openapi.json", app)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_collection_operations_answer_as_documented(token_and_schema, mode):
    token, schema = token_and_schema
    operations = [result.ok() for result in schema.get_all_operations()
                  if result.ok().path.startswith("/api/v1/collections")]
    assert len(operations) == 7
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and "{paper_id}" in operation.path:
            continue  # any string is an id to look up: nothing to negate

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def answers_as_documented(case):  # type: ignore[no-untyped-def]
            case.call_and_validate(headers=_auth(token), checks=CHECKS)

        answers_as_documented()
        if operation.method.upper() == "GET" and operation.path.endswith("{collection_id}"):
            for cid in (1, 2):  # the public one answers, the other's private one is a 404
                case = operation.Case(path_parameters={"collection_id": cid})
                answer = case.call_and_validate(checks=CHECKS)
                assert answer.status_code == (200 if cid == 1 else 404)
