"""The Hugging Face–compatible JSON API: shapes, paging, errors, and HF's own client."""

import copy
import datetime as dt
import json
import math
import os

import pytest

from dailypapers.ingest.files import import_paths
from tests.conftest import shared
from tests.helpers import hf_item, write_json

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

DAYS = ("2026-03-27.json", "2026-03-30.json", "2026-03-31.json")


@pytest.fixture
def loaded(engine):
    import_paths(engine, [shared("hf-daily", name) for name in DAYS])
    return {name[:10]: json.loads(shared("hf-daily", name).read_text()) for name in DAYS}


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("date=2026-03-31&week=2026-W14", "only one of"),
        ("date=2026-13-01", "date"),
        ("date=yesterday", "date"),
        ("week=2026-W60", "week"),
        ("month=2026-3", "month"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("p=-1", "p must"),
        ("sort=random", "sort"),
        # Beyond the years we serve, a period's neighbours overflowed datetime.date: was a 500.
        ("date=9999-12-31", "only years 1900 to 2199"),
        ("week=9999-W52", "only years 1900 to 2199"),
        ("month=9999-12", "only years 1900 to 2199"),
        ("month=0001-01", "only years 1900 to 2199"),
        ("week=0001-W01", "only years 1900 to 2199"),
        # p·limit overflowed SQLite's 64-bit INTEGER: was a 500.
        ("p=99999999999999999999", "p must be between 0 and 1000000"),
        # PostgreSQL refuses NUL in text: was a 500 there.
        ("submitter=a%00b", "submitter must not contain control characters"),
        (f"submitter={'x' * 201}", "submitter must be at most 200 characters"),
    ],
)
def test_bad_parameters_are_400_with_an_error_key(client, query, fragment):
    response = client.get(f"/api/daily_papers?{query}")
    assert response.status_code == 400
    assert fragment in response.json()["error"]


def test_unknown_and_malformed_papers_are_404(client):
    # A version of more than 4300 digits made int() raise ValueError: was a 500.
    huge_version = "/api/papers/2401.12345v" + "9" * 5000
    for path in ("/api/papers/2401.99999", "/api/papers/not-an-id", "/api/papers/%00%ff", huge_version):
        response = client.get(path)
        assert response.status_code == 404
        assert "error" in response.json()


def test_daily_papers_by_date_with_paging(client, loaded):
    source = loaded["2026-03-31"]
    first = client.get("/api/daily_papers?date=2026-03-31&limit=5")
    assert first.status_code == 200
    assert len(first.json()) == 5
    assert 'rel="next"' in first.headers["link"] and "p=1" in first.headers["link"]
    seen = []
    url = "/api/daily_papers?date=2026-03-31&limit=5"
    while url:
        response = client.get(url)
        seen.extend(item["paper"]["id"] for item in response.json())
        link = response.headers.get("link")
        url = link[link.index("<") + 1:link.index(">")] if link else None
    assert sorted(seen) == sorted(item["paper"]["id"] for item in source)
    assert len(seen) == len(set(seen))


def test_no_date_means_latest_entries_across_days(client, loaded):
    items = client.get("/api/daily_papers?limit=100").json()
    days = [item["paper"]["submittedOnDailyAt"][:10] for item in items]
    assert days == sorted(days, reverse=True)
    assert days[0] == "2026-03-31" and "2026-03-30" in days


def test_week_month_and_submitter_filters(client, loaded):
    week = client.get("/api/daily_papers?week=2026-W14&limit=100").json()
    assert {i["paper"]["submittedOnDailyAt"][:10] for i in week} == {"2026-03-30", "2026-03-31"}
    month = client.get("/api/daily_papers?month=2026-03&limit=100").json()
    assert len(month) == sum(len(v) for v in loaded.values())
    name = loaded["2026-03-31"][0]["submittedBy"]["name"]
    mine = client.get(f"/api/daily_papers?submitter={name}&limit=100").json()
    assert mine and all(i["submittedBy"]["name"] == name for i in mine)


def test_trending_sort_orders_by_the_stored_score_within_a_day(client, loaded):
    """Within a day, trending is log10(max(upvotes + min(numComments, 10), 1)) + hours_featured
    / 48 (dailypapers/rank/trending.py), computed here from the recorded JSON: a paper featured
    12 h later needs 10^(12/48) = 1.78x fewer points. On 2026-03-31 that order is not the
    upvote order (so sorting by upvotes, the old rule, fails this test)."""
    items = client.get("/api/daily_papers?date=2026-03-31&sort=trending&limit=100").json()

    def expected(item):
        stamp = item["paper"].get("submittedOnDailyAt") or "2026-03-31T00:00:00Z"
        when = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        hours = (when - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)).total_seconds() / 3600
        points = item["paper"]["upvotes"] + min(item["numComments"], 10)
        return -(math.log10(max(points, 1)) + hours / 48), item["paper"]["id"]

    source = sorted(loaded["2026-03-31"], key=expected)
    assert [i["paper"]["id"] for i in items] == [i["paper"]["id"] for i in source]
    upvotes = [i["paper"]["upvotes"] for i in items]
    assert upvotes != sorted(upvotes, reverse=True)


def _same_paper_info(ours, theirs):
    assert ours.id == theirs.id
    assert ours.title == theirs.title
    assert ours.summary == theirs.summary
    assert ours.published_at == theirs.published_at
    assert ours.upvotes == theirs.upvotes
    assert ours.comments == theirs.comments
    assert [(a.name, a.hidden, a.status, a.user and a.user.username) for a in ours.authors] == [
        (a.name, a.hidden, a.status, a.user and a.user.username) for a in theirs.authors
    ]
    if theirs.submitted_by is None:
        assert ours.submitted_by is None
    else:
        for attr in ("username", "fullname", "avatar_url", "is_pro", "user_type"):
            assert getattr(ours.submitted_by, attr) == getattr(theirs.submitted_by, attr), attr


def test_huggingface_hub_client_reads_us(engine, settings, loaded):
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import PaperInfo

    from dailypapers.web.app import create_app
    from tests.conftest import LiveServer

    with LiveServer(create_app(settings, engine)) as server:
        api = HfApi(endpoint=server.url)
        ours = list(api.list_daily_papers(date="2026-03-31", limit=100))
        source = {item["paper"]["id"]: item for item in loaded["2026-03-31"]}
        assert sorted(p.id for p in ours) == sorted(source)
        for paper in ours:
            _same_paper_info(paper, PaperInfo(**copy.deepcopy(source[paper.id])))
            assert paper.submitted_at == PaperInfo(**copy.deepcopy(source[paper.id])).submitted_at
        pid = next(iter(source))
        info = api.paper_info(pid)
        flat = copy.deepcopy(source[pid]["paper"])
        theirs = PaperInfo(**flat, numComments=source[pid]["numComments"])
        assert info.id == pid and info.title == theirs.title and info.summary == theirs.summary
        assert info.upvotes == theirs.upvotes and info.published_at == theirs.published_at
        assert info.ai_keywords == theirs.ai_keywords and info.comments == theirs.comments
        assert [a.name for a in info.authors] == [a.name for a in theirs.authors]


def test_zero_upvotes_round_trip(client, engine, tmp_path):
    import_paths(engine, [write_json(tmp_path / "2026-03-02.json", [hf_item("2603.00020", upvotes=0)])])
    body = client.get("/api/papers/2603.00020").json()
    assert body["upvotes"] == 0 and body["id"] == "2603.00020"


ATOM_NEWER = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">
  <id>https://arxiv.org/api/test</id>
  <entry>
    <id>http://arxiv.org/abs/0704.0002v3</id>
    <updated>2026-01-05T10:00:00Z</updated>
    <published>2007-03-30T20:16:27Z</published>
    <title>Sparsity-certifying Graph Decompositions, Revisited</title>
    <summary>A newer abstract.</summary>
    <author><name>Ileana Streinu</name></author>
    <author><name>Louis Theran</name></author>
    <arxiv:primary_category term="math.CO"/>
    <category term="math.CO"/>
  </entry>
</feed>
"""


def test_client_reads_oai_only_papers_and_sees_newer_versions(engine, settings, tmp_path):
    from huggingface_hub import HfApi

    from dailypapers.web.app import create_app
    from tests.conftest import LiveServer

    import_paths(engine, [shared("arxiv", "oai-pmh-cs-2016", f"listrecords-{n}.xml.gz") for n in ("001", "103")])
    with LiveServer(create_app(settings, engine)) as server:
        api = HfApi(endpoint=server.url)
        info = api.paper_info("0704.0002")
        assert info.title == "Sparsity-certifying Graph Decompositions"
        assert [a.name for a in info.authors] == ["Ileana Streinu", "Louis Theran"]
        assert info.published_at.date().isoformat() == "2007-03-30"
        assert info.summary.startswith("We describe a new algorithm, the $(k,\\ell)$-pebble game")
        newer = tmp_path / "newer.xml"
        newer.write_text(ATOM_NEWER)
        _, counts = import_paths(engine, [newer])
        assert counts.updated == 1
        info = api.paper_info("0704.0002v3")
        assert info.title == "Sparsity-certifying Graph Decompositions, Revisited"
        assert info.summary == "A newer abstract."
        # Old-style ids, slash included, in the API and on the page.
        old_style = api.paper_info("math/0611918")
        assert old_style.id == "math/0611918" and old_style.title
        import httpx

        page = httpx.get(f"{server.url}/papers/math/0611918")
        assert page.status_code == 200 and old_style.title.split()[0] in page.text


# --- the OpenAPI document: every query parameter a JSON route reads, and only those ----------

# Each JSON route with a URL that reaches it; the search routes live in routes_search.py.
JSON_ROUTES = {
    "/api/daily_papers": "/api/daily_papers",
    "/api/papers/{paper_id}": "/api/papers/2603.00042",
    "/api/papers/search": "/api/papers/search",
    "/api/v1/search": "/api/v1/search",
}


def _documented(openapi, template):
    operation = openapi["paths"][template]["get"]
    return {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}


def _names_read(client, monkeypatch, url, params=None):
    """The query parameters the route looks up while answering (whether or not they are sent)."""
    from starlette.datastructures import QueryParams
    from starlette.requests import HTTPConnection

    seen = set()

    class Recording(QueryParams):
        def get(self, key, default=None):
            seen.add(key)
            return super().get(key, default)

        def __getitem__(self, key):
            seen.add(key)
            return super().__getitem__(key)

        def __contains__(self, key):
            seen.add(key)
            return super().__contains__(key)

        def getlist(self, key):
            seen.add(key)
            return super().getlist(key)

    real = HTTPConnection.query_params
    with monkeypatch.context() as patch:
        patch.setattr(HTTPConnection, "query_params", property(lambda self: Recording(real.fget(self))))
        response = client.get(url, params=params)
    assert response.status_code in (200, 404), response.text
    return seen


def _good_values(param):
    schema = param["schema"]
    if "enum" in schema:
        return list(schema["enum"])
    if schema["type"] == "integer":
        return [str(schema["minimum"]), str(schema["maximum"])]
    if schema["type"] == "boolean":
        return ["true", "false", "1", "no"]
    return [param["example"] if "example" in param else schema["examples"][0]]


def _bad_values(param):
    """Values the schema forbids (none for free text)."""
    schema = param["schema"]
    if "enum" in schema:
        return ["not-a-choice"]
    if schema["type"] == "integer":
        return [str(schema["minimum"] - 1), str(schema["maximum"] + 1), "ten"]
    if schema["type"] == "boolean":
        return ["maybe"]
    bad = []
    if schema.get("format") == "date":
        bad += ["2026-02-30", "2026-3-1", "9999-12-31"]
    if "pattern" in schema:
        import re

        bad += [v for v in ("nope", "a\x01b") if not re.search(schema["pattern"], v)]
    if "maxLength" in schema:
        bad.append("x" * (schema["maxLength"] + 1))
    return bad


@pytest.mark.parametrize("template", list(JSON_ROUTES))
def test_openapi_lists_exactly_the_query_parameters_each_route_reads(client, monkeypatch, template):
    import re

    openapi = client.get("/api/openapi.json").json()
    documented = _documented(openapi, template)
    url = JSON_ROUTES[template]
    # Read with none sent, then with each documented one sent: a parameter the route reads but
    # the document lacks, or one documented but never read, makes the two sets differ.
    read = _names_read(client, monkeypatch, url)
    for name, param in documented.items():
        read |= _names_read(client, monkeypatch, url, {name: _good_values(param)[0]})
    assert read == set(documented), template

    for name, param in documented.items():
        assert param["required"] is False and param["description"], name
        for value in _good_values(param):
            response = client.get(url, params={name: value})
            assert response.status_code == 200, (name, value, response.text)
        for value in _bad_values(param):
            response = client.get(url, params={name: value})
            assert response.status_code == 400, (name, value, response.text)
            assert re.search(rf"\b{name}\b", response.json()["error"]), (name, value, response.text)
        default = param["schema"].get("default")
        if default is not None:  # sending the documented default changes nothing
            sent = str(default).lower() if isinstance(default, bool) else str(default)
            assert client.get(url, params={name: sent}).json() == client.get(url).json(), name

    responses = openapi["paths"][template]["get"]["responses"]
    if documented:
        assert responses["400"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ApiError"}
    else:
        assert "400" not in responses
    assert "422" not in responses  # a bad request is our 400, never FastAPI's 422


def test_openapi_error_schema_and_the_paper_route(client):
    openapi = client.get("/api/openapi.json").json()
    error = openapi["components"]["schemas"]["ApiError"]
    assert error["required"] == ["error"] and error["properties"]["error"]["type"] == "string"
    assert "HTTPValidationError" not in openapi["components"]["schemas"]
    paper = openapi["paths"]["/api/papers/{paper_id}"]["get"]
    assert [(p["name"], p["in"]) for p in paper["parameters"]] == [("paper_id", "path")]
    assert paper["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ApiError"}
    assert client.get("/api/docs").status_code == 200


def test_api_docs_say_which_operations_need_a_token(client):
    """The intro counts open and token operations from the OpenAPI document; every write
    (POST, PUT, PATCH, DELETE) is marked as needing a token, and no read that needs none is."""
    import lxml.html

    paths = client.get("/api/openapi.json").json()["paths"]
    ops = [(m.upper(), p, "401" in op["responses"]) for p, ms in paths.items()
           for m, op in ms.items()]
    with_token = sum(1 for *_, t in ops if t)
    assert with_token >= 3 and with_token < len(ops)
    assert all(t for m, _p, t in ops if m in ("POST", "PUT", "PATCH", "DELETE"))
    doc = lxml.html.fromstring(client.get("/api/docs").text)
    intro = " ".join(doc.xpath("string(//p[@class='api-intro'])").split())
    assert "read-only" not in intro
    assert f"{len(ops) - with_token} operations need no key; the other {with_token} act" in intro
    assert "Authorization: Bearer <token>" in intro
    marked = {(a.xpath("string(.//span[@class='method'])"), a.xpath("string(.//code)"))
              for a in doc.xpath("//article[@class='operation']")
              if a.xpath(".//span[@class='needs-token']")}
    assert marked == {(m, p) for m, p, t in ops if t}


# --- HEAD ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/daily_papers", "/api/daily_papers?date=2026-03-31&limit=5",
                                  "/api/papers/2603.00042", "/api/openapi.json", "/api/docs"])
def test_head_answers_like_get(client, engine, tmp_path, path):
    import_paths(engine, [write_json(tmp_path / "2026-03-02.json", [hf_item("2603.00042")])])
    get, head = client.get(path), client.head(path)
    assert get.status_code == head.status_code == 200
    for header in ("content-type", "content-length", "link"):
        assert head.headers.get(header) == get.headers.get(header), header
    assert int(head.headers["content-length"]) == len(get.content) > 0
    assert head.content == b""


@pytest.mark.parametrize(("path", "kind"), [("/nope", "text/html"), ("/api/nope", "application/json"),
                                            ("/api/papers/2401.99999", "application/json")])
def test_head_on_what_does_not_exist_is_404(client, path, kind):
    get, head = client.get(path), client.head(path)
    assert get.status_code == head.status_code == 404
    assert head.headers["content-type"].startswith(kind)
    assert head.headers["content-length"] == get.headers["content-length"]


def test_head_on_a_bad_parameter_is_the_same_400(client):
    get, head = client.get("/api/daily_papers?limit=0"), client.head("/api/daily_papers?limit=0")
    assert get.status_code == head.status_code == 400
    assert head.headers["content-length"] == get.headers["content-length"]


def test_post_only_routes_do_not_answer_head(settings, engine):
    from fastapi.testclient import TestClient

    from dailypapers.web.app import create_app

    app = create_app(settings, engine)

    @app.post("/api/only-post")
    def only_post() -> dict:  # type: ignore[type-arg]
        return {"ok": True}

    with TestClient(app) as client:
        assert client.post("/api/only-post").status_code == 200
        for method in ("HEAD", "GET"):
            response = client.request(method, "/api/only-post")
            assert response.status_code == 405, method
            assert response.headers["allow"] == "POST"
