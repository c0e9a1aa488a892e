"""The OpenAPI description and the code agree: schemathesis generates requests from
/api/openapi.json (valid ones, and ones the description forbids) and sends them to the app in
process, on SQLite and PostgreSQL, with a few papers loaded.

Checks: no 5xx; every status code and content type is documented; every answer matches its
schema; a request the description allows is accepted, one it forbids is refused (a 4xx).
Two rules the description states only in words, because OpenAPI cannot say them about query
parameters, are left out of the generated valid requests: at most one of date, week and
month; date_from not after date_to. And /api/v1/search's q, whose filter syntax (an unknown
``foo:`` is a 400) no JSON Schema describes, gets no colon in valid requests.
"""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from dailypapers.index.worker import IndexWorker
from dailypapers.ingest.files import import_paths
from dailypapers.web.app import create_app
from tests.api_paths import API_OPERATION_PATHS
from tests.helpers import hf_item, search_service, write_json

# Per operation and mode; raise it to explore (SCHEMATHESIS_MAX_EXAMPLES=1000 found nothing more).
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, positive_data_acceptance, negative_data_rejection]


def _given(query: dict, name: str) -> bool:
    return query.get(name) not in (None, "")


def _only_rules_the_schema_states(path: str, query: dict | None) -> bool:
    if query is None:
        return True
    if sum(_given(query, name) for name in ("date", "week", "month")) > 1:
        return False
    if _given(query, "date_from") and _given(query, "date_to"):
        try:
            if dt.date.fromisoformat(query["date_from"]) > dt.date.fromisoformat(query["date_to"]):
                return False
        except (TypeError, ValueError):
            pass  # a malformed date: the request is invalid by the schema anyway
    if path == "/api/papers" and _given(query, "cursor"):
        return False  # an opaque cursor: only the ones the API handed out are valid
    return not (path == "/api/v1/search" and ":" in str(query.get("q", "")))


PAPER_IDS = [f"2603.0000{n}" for n in range(1, 6)]


@pytest.fixture
def app(engine, settings, tmp_path):
    """Five featured papers, every optional key present on some and absent on others, so the
    answers' schemas meet both."""
    items = []
    for n, pid in enumerate(PAPER_IDS, 1):
        extra = {"githubRepo": "https://github.com/a/b", "githubStars": 12,
                 "projectPage": "https://example.org/p", "ai_summary": "In short.",
                 "ai_keywords": ["diffusion", "model"],
                 "organization": {"_id": "o1", "name": "lab", "fullname": "A Lab",
                                  "avatar": "https://example.org/a.png"}} if n % 2 else {}
        items.append(hf_item(pid, title=f"Diffusion model number {n}", upvotes=n,
                             day=f"2026-03-0{n}", **extra))
    import_paths(engine, [write_json(tmp_path / "papers.json", items)])
    app = create_app(settings, engine, search=search_service(engine, settings))
    IndexWorker(app.state.search).run_once()
    return app


@pytest.fixture
def api_schema(app):
    return schemathesis.openapi.from_asgi("/api/openapi.json", app)


# schemathesis' own pytest plugin (from_fixture) reads a private attribute pytest 9 removed:
# each operation's strategy drives a Hypothesis test here instead.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_answer_is_the_one_the_openapi_description_promises(api_schema, mode):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert sorted(op.path for op in operations) == API_OPERATION_PATHS
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and "{paper_id}" in operation.path:
            continue  # any string is an id to look up (a 404 when unknown): nothing to negate

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def answers_as_documented(case):  # type: ignore[no-untyped-def]
            if mode is GenerationMode.POSITIVE:
                assume(_only_rules_the_schema_states(operation.path, case.query))
                # /api/papers/search is its own route: "search" is no paper id. (Hypothesis
                # draws strings from constants in the code, so it does come up.)
                assume((case.path_parameters or {}).get("paper_id") != "search")
            case.call_and_validate(checks=CHECKS)

        answers_as_documented()
        if operation.path == "/api/papers/{paper_id}":  # random ids only ever meet the 404
            for pid in (*PAPER_IDS, f"{PAPER_IDS[0]}v3"):
                case = operation.Case(path_parameters={"paper_id": pid})
                assert case.call_and_validate(checks=CHECKS).status_code == 200


# Values at the edges of each documented rule, sent one at a time: the API accepts exactly the
# ones the parameter's schema admits (an empty value counts as absent: allowEmptyValue).
EDGES = {
    ("/api/daily_papers", "date"): ["2026-03-02", "2026-02-29", "2024-02-29", "1900-01-01",
                                    "2199-12-31", "1899-12-31", "2200-01-01", "2026-03-02\n",
                                    "2026-3-02", "", "２０２６-03-02"],
    ("/api/daily_papers", "week"): ["2026-W10", "2026-W53", "2025-W53", "2026-W00", "2026-W54",
                                    "1900-W01", "2199-W52", "2200-W01", "2026-W10\n", "2026-w10",
                                    "", "٢٠٢٦-W10"],
    ("/api/daily_papers", "month"): ["2026-03", "2026-00", "2026-13", "1899-12", "2200-01",
                                     "2026-03\n", "", "٢٠٢٦-03", "2026-3"],
    ("/api/daily_papers", "limit"): ["1", "100", "0", "101", "10.0", "1e1", "1.5", "1_0", " 10",
                                     "", "-0", "1e999999999"],
    ("/api/daily_papers", "p"): ["0", "1000000", "1000001", "-1", "2.0"],
    ("/api/daily_papers", "submitter"): ["akhaliq", "a\x00b", "a\tb", "x" * 200, "x" * 201, ""],
    ("/api/daily_papers", "sort"): ["trending", "newest", "", "Trending"],
    ("/api/v1/search", "date_from"): ["2026-03-01", "2026-02-30", "", "2026-03-01\n"],
    ("/api/v1/search", "date_to"): ["2026-03-31", "0226-05-01", "", "2200-01-01"],
    ("/api/v1/search", "offset"): ["0", "10000", "10001", "3.0"],
    ("/api/v1/search", "has_code"): ["true", "false", "", "maybe"],
    ("/api/papers/search", "limit"): ["1", "120", "121", "0"],
}


def _wire_to_json(value: str, schema: dict) -> object:
    """How JSON Schema sees a query value: the number or boolean whose form serialisation it
    is (" 10" is none: nothing serialises with spaces)."""
    if schema["type"] in ("integer", "boolean") and value == value.strip():
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def test_the_schema_and_the_code_agree_at_every_edge(app):
    import jsonschema_rs
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        openapi = client.get("/api/openapi.json").json()
        for (path, name), values in EDGES.items():
            param = next(p for p in openapi["paths"][path]["get"]["parameters"]
                         if p["name"] == name)
            schema = param["schema"]
            validator = jsonschema_rs.validator_for(schema, validate_formats=True)
            for value in values:
                admitted = value == "" and param["allowEmptyValue"] or (
                    value != "" and validator.is_valid(_wire_to_json(value, schema)))
                if name == "has_code" and value in ("true", "false"):
                    admitted = True
                status = client.get(path, params={name: value, "mode": "keyword"}
                                    if path != "/api/daily_papers" else {name: value}).status_code
                assert status == (200 if admitted else 400), (path, name, value, status)
