"""Documented bounds of the APIs' parameters, at the bound and one past it, checked by what the
answer holds (not only its status): the value at the bound is accepted *and applied*, one past it
is a 400 naming the parameter, or, where the documentation says text is cut, the cut happens at
exactly the documented length. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dailypapers.index.query import MAX_QUERY_CHARS
from dailypapers.ingest import hf_daily
from dailypapers.web.routes_api import MAX_LIMIT, MAX_SUBMITTER
from dailypapers.web.routes_search import HF_MAX_LIMIT, HF_MAX_QUERY, V1_MAX_LIMIT
from tests.helpers import hf_item, store

DAY = "2026-03-02"


def _items(count: int, *, submitter: str = "grace", start: int = 0) -> list[dict[str, Any]]:
    items = []
    for n in range(start, start + count):
        item = hf_item(f"2603.{n + 10000:05d}", title=f"Zebrafish study number {n}", upvotes=n,
                       day=DAY)
        item["submittedBy"]["name"] = submitter
        items.append(item)
    return items


def _load(engine: Any, items: list[dict[str, Any]]) -> None:
    store(engine, list(hf_daily.parse_items(items, day=dt.date.fromisoformat(DAY))))


def _error(response: Any, name: str) -> str:
    assert response.status_code == 400, response.text
    message = response.json()["error"]
    assert name in message, message
    return message


def test_documented_bounds_are_the_enforced_ones(client: TestClient) -> None:
    """Fails if a bound in the code drifts from the one the OpenAPI document states."""
    doc = client.get("/api/openapi.json").json()["paths"]
    daily = {p["name"]: p["schema"] for p in doc["/api/daily_papers"]["get"]["parameters"]}
    assert daily["limit"]["maximum"] == MAX_LIMIT == 100
    assert daily["submitter"]["maxLength"] == MAX_SUBMITTER == 200
    hf = {p["name"]: p["schema"] for p in doc["/api/papers/search"]["get"]["parameters"]}
    assert hf["limit"]["maximum"] == HF_MAX_LIMIT == 120
    v1 = {p["name"]: p["schema"] for p in doc["/api/v1/search"]["get"]["parameters"]}
    assert v1["limit"]["maximum"] == V1_MAX_LIMIT == 100
    assert v1["offset"]["maximum"] == 10_000


STORED_SUBMITTER = 128  # feature_days.submitter_name is VARCHAR(128): the longest name stored


def test_submitter_at_its_maximum_length_is_accepted_and_applied(client, engine) -> None:
    """Fails if a 200-character submitter (the documented maximum) is refused, if 201 are
    accepted, or if the longest name the database stores (128) is not matched exactly."""
    stored = "u" * STORED_SUBMITTER
    _load(engine, _items(2) + _items(1, submitter=stored, start=2))
    body = client.get("/api/daily_papers", params={"date": DAY, "submitter": stored}).json()
    assert [item["paper"]["id"] for item in body] == ["2603.10002"]
    longest = client.get("/api/daily_papers", params={"submitter": "u" * MAX_SUBMITTER})
    assert longest.status_code == 200 and longest.json() == []
    _error(client.get("/api/daily_papers", params={"submitter": "u" * (MAX_SUBMITTER + 1)}),
           "submitter")
    _error(client.get("/api/daily_papers", params={"submitter": "gra\x07ce"}), "submitter")


def test_daily_limit_at_its_maximum_and_one_past(client, engine) -> None:
    """Fails if limit=100 does not return 100 papers (with a next link, 101 exist) or if
    limit=101 or limit=0 is accepted."""
    _load(engine, _items(101))
    response = client.get("/api/daily_papers", params={"date": DAY, "limit": "100"})
    assert len(response.json()) == 100 and 'rel="next"' in response.headers["link"]
    last = client.get("/api/daily_papers", params={"date": DAY, "limit": "100", "p": "1"})
    assert len(last.json()) == 1 and "link" not in last.headers
    assert len(client.get("/api/daily_papers", params={"date": DAY, "limit": "1"}).json()) == 1
    _error(client.get("/api/daily_papers", params={"limit": "101"}), "limit")
    _error(client.get("/api/daily_papers", params={"limit": "0"}), "limit")
    _error(client.get("/api/daily_papers", params={"p": "-1"}), "p")


def test_search_limits_at_their_maximum_and_one_past(client, engine) -> None:
    """Fails if Hugging Face's search does not return up to 120 results, our v1 search up to
    100, or either accepts one more."""
    _load(engine, _items(121))
    hf = client.get("/api/papers/search", params={"q": "zebrafish", "limit": "120",
                                                   "mode": "keyword"})
    assert len(hf.json()) == 120
    _error(client.get("/api/papers/search", params={"q": "zebrafish", "limit": "121"}), "limit")
    v1 = client.get("/api/v1/search", params={"q": "zebrafish", "limit": "100",
                                              "mode": "keyword"}).json()
    assert len(v1["data"]) == 100 and v1["count"] == 121 and "offset=100" in v1["next"]
    _error(client.get("/api/v1/search", params={"q": "zebrafish", "limit": "101"}), "limit")
    end = client.get("/api/v1/search", params={"q": "zebrafish", "mode": "keyword",
                                               "offset": "10000"})
    assert end.status_code == 200 and end.json()["data"] == [] and end.json()["next"] is None
    _error(client.get("/api/v1/search", params={"q": "zebrafish", "offset": "10001"}), "offset")


def test_hf_search_keeps_exactly_the_first_250_characters(client, engine) -> None:
    """Fails if the cut of Hugging Face's ``q`` moves by one character: "zebrafish" ending at
    character 250 is searched; one character later it is cut to "zebrafis", which finds
    nothing."""
    _load(engine, _items(1))
    at_bound = "." * (HF_MAX_QUERY - len(" zebrafish")) + " zebrafish"
    assert len(at_bound) == HF_MAX_QUERY == 250
    params = {"mode": "keyword"}
    found = client.get("/api/papers/search", params={"q": at_bound, **params}).json()
    assert [item["paper"]["id"] for item in found] == ["2603.10000"]
    past = client.get("/api/papers/search", params={"q": "." + at_bound, **params})
    assert past.status_code == 200 and past.json() == []


def test_v1_search_cuts_queries_past_512_characters_with_a_warning(client, engine) -> None:
    """Fails if a 512-character query is cut (or warned about), or a 513-character one is not."""
    _load(engine, _items(1))
    at_bound = "zebrafish " + "a" * (MAX_QUERY_CHARS - len("zebrafish "))
    assert len(at_bound) == MAX_QUERY_CHARS == 512
    kept = client.get("/api/v1/search", params={"q": at_bound, "mode": "keyword"}).json()
    assert kept["warnings"] == [] and kept["count"] == 1
    cut = client.get("/api/v1/search", params={"q": at_bound + "a", "mode": "keyword"}).json()
    assert cut["warnings"] == ["query cut to its first 512 characters"] and cut["count"] == 1


def test_search_page_number_bound(client, engine) -> None:
    """Fails if page 500 (the last page the search page offers) is refused or page 501 or 0
    accepted."""
    _load(engine, _items(1))
    assert client.get("/search", params={"q": "zebrafish", "page": "500"}).status_code == 200
    for page in ("501", "0"):
        response = client.get("/search", params={"q": "zebrafish", "page": page})
        assert response.status_code == 400 and "Page must be between 1 and 500" in response.text  # a sentence on the page


@pytest.mark.parametrize(("name", "bad"), [("date_from", "2026-02-29"), ("date_to", "2026-3-1"),
                                           ("has_code", "maybe"), ("featured", "2")])
def test_search_filter_values_are_checked(client, name: str, bad: str) -> None:
    """Fails if a malformed filter value is ignored instead of refused by name."""
    _error(client.get("/api/v1/search", params={"q": "x", name: bad}), name)
