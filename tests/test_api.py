"""The Hugging Face–compatible JSON API: shapes, paging, errors, and HF's own client."""

import copy
import json
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


def test_trending_sort_orders_by_upvotes_within_a_day(client, loaded):
    items = client.get("/api/daily_papers?date=2026-03-31&sort=trending&limit=100").json()
    upvotes = [i["paper"]["upvotes"] for i in items]
    assert upvotes == sorted(upvotes, reverse=True)


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
