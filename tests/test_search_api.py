"""Search surfaces end to end: the HF-shaped API (and HF's client), /api/v1/search, the page, the
CLI, similar papers, catch-up of separately imported papers, and hostile input."""

import json
import os
import shutil
from contextlib import ExitStack
from urllib.parse import urlsplit

import lxml.html
import pytest
import sqlalchemy as sa

from dailypapers.db.engine import make_engine, read_transaction
from dailypapers.db.migrate import upgrade
from dailypapers.db.schema import papers
from dailypapers.index.worker import IndexWorker
from dailypapers.ingest.files import import_paths
from dailypapers.settings import Settings
from tests.conftest import TEST_SECRET_KEY, LiveServer, new_postgres_database, shared
from tests.helpers import hf_item, search_service, write_json

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
DAY = "2026-03-31.json"


@pytest.fixture
def app(settings, engine):
    from dailypapers.web.app import create_app

    import_paths(engine, [shared("hf-daily", DAY)])
    app = create_app(settings, engine, search=search_service(engine, settings))
    IndexWorker(app.state.search).run_once()  # keyword index built, every paper embedded
    return app


@pytest.fixture
def api(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def read_only_api(request, tmp_path_factory, sqlite_template):  # type: ignore[no-untyped-def]
    """``api`` and its engine, loaded once per database for the cases that only read: each
    case built the keyword index and embedded every paper of the day for itself (~1-2 s).
    PostgreSQL gets a database of its own, as the other tests here empty the session's."""
    from fastapi.testclient import TestClient

    from dailypapers.web.app import create_app

    data_dir = tmp_path_factory.mktemp(f"search-{request.param}")
    with ExitStack() as stack:
        if request.param == "sqlite":
            shutil.copyfile(sqlite_template, data_dir / "dailypapers.sqlite3")
            url = f"sqlite:///{data_dir / 'dailypapers.sqlite3'}"
        else:
            url = stack.enter_context(new_postgres_database())
        engine = make_engine(url)
        stack.callback(engine.dispose)
        settings = Settings(database_url=url, data_dir=data_dir, secret_key=TEST_SECRET_KEY,
                            media_fetch_max=0)
        import_paths(engine, [shared("hf-daily", DAY)])
        app = create_app(settings, engine, search=search_service(engine, settings))
        IndexWorker(app.state.search).run_once()
        client = stack.enter_context(TestClient(app))
        yield client, engine


@pytest.fixture
def source():
    return {item["paper"]["id"]: item for item in json.loads(shared("hf-daily", DAY).read_text())}


def test_title_and_id_queries_find_the_paper_first(api, source):
    for pid, item in list(source.items())[:5]:
        for q in (item["paper"]["title"], pid, f"arXiv:{pid}v2"):
            body = api.get("/api/v1/search", params={"q": q}).json()
            assert body["data"][0]["paper"]["id"] == pid, q


def test_v1_shape_highlights_and_paging(api, source):
    body = api.get("/api/v1/search", params={"q": "language models", "limit": 3}).json()
    assert set(body) >= {"data", "count", "next"}
    assert len(body["data"]) == 3 and body["count"] > 3
    first = body["data"][0]
    assert set(first) >= {"paper", "score", "highlights"}
    assert "<mark>" in first["highlights"]["title"] + first["highlights"]["abstract"]
    assert "offset=3" in body["next"]
    nxt = urlsplit(body["next"])
    second = api.get(f"{nxt.path}?{nxt.query}").json()
    assert {d["paper"]["id"] for d in second["data"]}.isdisjoint({d["paper"]["id"] for d in body["data"]})


def test_hf_client_list_papers(app, source):
    from huggingface_hub import HfApi

    with LiveServer(app) as server:
        pid, item = next(iter(source.items()))
        found = list(HfApi(endpoint=server.url).list_papers(query=item["paper"]["title"], limit=5))
        assert found[0].id == pid and found[0].title == item["paper"]["title"]
        assert found[0].upvotes == (item["paper"]["upvotes"] or None)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"q": ""}, 200),
        ({"q": "x" * 10_000}, 200),
        ({"q": "\x00\xff\ufffd binary \x1b[31m"}, 200),
        ({"q": '"unbalanced quote'}, 200),
        ({"q": "the of and"}, 200),
        ({"q": "'; DROP TABLE papers; --"}, 200),
        ({"q": "(a OR b) AND c* ~2 ^3 field:[1 TO 2]"}, 400),
        ({"q": "foo:bar"}, 400),
        ({"q": "x", "limit": "0"}, 400),
        ({"q": "x", "limit": "many"}, 400),
        ({"q": "x", "offset": "-1"}, 400),
        ({"q": "x", "date_from": "2026-02-30"}, 400),
        ({"q": "x", "date_from": "2026-03-02", "date_to": "2026-03-01"}, 400),
        ({"q": "x", "has_code": "maybe"}, 400),
        ({"q": "x", "mode": "psychic"}, 400),
        ({"q": "x", "sort": "random"}, 400),
    ],
)
def test_bad_input_is_an_answer_or_a_clear_400(read_only_api, params, status):
    api, engine = read_only_api
    response = api.get("/api/v1/search", params=params)
    assert response.status_code == status, response.text
    body = response.json()
    if status == 400:
        assert body["error"]
    else:
        assert isinstance(body["data"], list)
    hf = api.get("/api/papers/search", params={"q": params["q"]})
    assert hf.status_code in (200, 400) and hf.status_code != 500
    with read_transaction(engine) as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar() > 0


@pytest.mark.parametrize(("name", "day"), [("date_from", "9999-12-31"), ("date_to", "0001-01-01"),
                                           ("date_from", "1677-09-20"), ("date_to", "2262-04-12")])
def test_filter_dates_beyond_the_years_served_are_400(read_only_api, name, day):
    api, _engine = read_only_api
    # The keyword index cannot hold dates outside 1677-09-21..2262-04-11: these were 500s.
    params = {"q": "model", name: day}
    for path in ("/api/v1/search", "/api/papers/search"):
        response = api.get(path, params=params)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error"] == f"{name}: invalid date {day!r}: only years 1900 to 2199"
    page = api.get("/search", params=params)
    assert page.status_code == 400
    assert "only years 1900 to 2199" in lxml.html.fromstring(page.text).text_content()
    edge = api.get("/api/v1/search", params={"q": "model", "date_from": "1900-01-01",
                                             "date_to": "2199-12-31"})
    assert edge.status_code == 200 and edge.json()["count"] > 0


def test_filters_and_sorts(api, source):
    with_code = api.get("/api/v1/search", params={"q": "model", "has_code": "true", "limit": 50}).json()
    assert with_code["data"] and all(d["paper"].get("githubRepo") for d in with_code["data"])
    by_votes = api.get("/api/v1/search", params={"q": "model", "sort": "upvotes", "limit": 50}).json()
    votes = [d["paper"]["upvotes"] for d in by_votes["data"]]
    assert votes == sorted(votes, reverse=True)
    none = api.get("/api/v1/search", params={"q": "model", "date_to": "2020-01-01"}).json()
    assert none["data"] == [] and none["count"] == 0


def test_search_page(api, source):
    pid, item = next(iter(source.items()))
    doc = lxml.html.fromstring(api.get("/search", params={"q": item["paper"]["title"]}).text)
    first = doc.cssselect("article.search-result")[0]
    assert first.get("data-paper-id") == pid
    assert first.cssselect("h3 mark")
    empty = api.get("/search", params={"q": "zzqxv nonexistentword"})
    assert empty.status_code == 200 and "No papers match" in empty.text
    bad = api.get("/search", params={"q": "x", "date_from": "soon"})
    assert bad.status_code == 400 and "date_from" in bad.text
    # The box is on every page.
    assert lxml.html.fromstring(api.get("/papers").text).cssselect("form.header-search input[name=q]")


def test_similar_papers_on_the_paper_page(api, app, source):
    pid = next(iter(source))
    similar = app.state.search.similar(pid, 6)  # what the page shows
    assert len(similar) == 6 and pid not in [p for p, _ in similar]
    doc = lxml.html.fromstring(api.get(f"/papers/{pid}").text)
    links = [a.get("href") for a in doc.cssselect("section.similar a")]
    assert links == [f"/papers/{p}" for p, _ in similar]


def test_a_vote_on_a_similar_paper_keeps_the_paper_page(api, app, engine, source):
    """The similar list shows titles and authors, no counts: a vote on a neighbour leaves the
    cached page as it was; a vote on the paper itself remakes it with the new count."""
    from dailypapers.community.votes import set_vote
    from dailypapers.db.engine import write_transaction
    from dailypapers.rank.trending import TrendingParams
    from tests.helpers import add_voter

    pid = next(iter(source))
    neighbour = app.state.search.similar(pid, 6)[0][0]
    add_voter(engine)  # user 1
    voter = 1
    page = f"/papers/{pid}"

    def vote(paper: str) -> None:
        with write_transaction(engine, changes="votes") as conn:
            set_vote(conn, voter, paper, True, TrendingParams())

    def count(answer) -> str:  # type: ignore[no-untyped-def]
        return lxml.html.fromstring(answer.text).cssselect(".vote-box")[0].text_content().split()[0]

    assert api.get(page).headers["x-cache"] == "miss"
    before = api.get(page)
    assert before.headers["x-cache"] == "hit"
    vote(neighbour)
    assert api.get(page).headers["x-cache"] == "hit"
    vote(pid)
    after = api.get(page)
    assert after.headers["x-cache"] == "miss" and int(count(after)) == int(count(before)) + 1


def test_separately_imported_papers_become_searchable(app, engine, tmp_path):
    worker = IndexWorker(app.state.search, embed=False)
    item = hf_item("2603.99901", title="Quokka populations on Rottnest island")
    import_paths(engine, [write_json(tmp_path / "2026-03-02.json", [item])])  # another "process"
    assert app.state.search.search("quokka rottnest").hits == []
    worker.run_once()
    assert app.state.search.search("quokka rottnest").hits[0].paper_id == "2603.99901"


def test_same_results_on_sqlite_and_postgresql(sqlite_url, postgres_url, tmp_path):
    from dailypapers.web.app import create_app

    answers = []
    for name, url in (("sqlite", sqlite_url), ("pg", postgres_url)):
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM feature_days")
            conn.exec_driver_sql("DELETE FROM paper_embeddings")
            conn.exec_driver_sql("DELETE FROM papers")
        upgrade(engine)
        import_paths(engine, [shared("hf-daily", DAY)])
        settings = Settings(database_url=url, data_dir=tmp_path / name)
        app = create_app(settings, engine, search=search_service(engine, settings))
        IndexWorker(app.state.search).run_once()
        service = app.state.search
        answers.append([[(h.paper_id, round(h.score, 6)) for h in service.search(q, limit=20).hits]
                        for q in ("language model agents", "image generation", "author:zhang", "benchmark -video")])
        engine.dispose()
    assert answers[0] == answers[1]


def test_paging_through_results_embeds_the_query_once(app) -> None:  # type: ignore[no-untyped-def]
    service = app.state.search
    service.query_vector.cache_clear()
    first = service.search("diffusion models for video generation", limit=5)
    second = service.search("diffusion models for video generation", limit=5, offset=5)
    info = service.query_vector.cache_info()
    # The second page is cut from the first's kept ranking (index/rankings.py): no embedding.
    assert (info.misses, info.hits) == (1, 0)
    assert not {h.paper_id for h in first.hits} & {h.paper_id for h in second.hits}


def test_the_same_search_is_ranked_once_while_the_indexes_stay(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The search page, Hugging Face's search API and ours rank a query alike: the ranking is
    kept (index/rankings.py) while the indexes it used stay put, for DAILYPAPERS_CACHE_SECONDS
    at most, and gives what a fresh ranking gives."""
    from fastapi.testclient import TestClient

    from dailypapers.index.keyword import SearchFilters

    service = app.state.search
    searched: list[str] = []
    real = type(service.keyword).search

    def counting(index, parsed, **kwargs):  # type: ignore[no-untyped-def]
        searched.append(parsed.text)
        return real(index, parsed, **kwargs)

    monkeypatch.setattr(type(service.keyword), "search", counting)
    q = "video diffusion"
    with TestClient(app) as client:
        page = client.get("/search", params={"q": q})
        hf = client.get("/api/papers/search", params={"q": q}).json()
        v1 = client.get("/api/v1/search", params={"q": q}).json()
    assert page.status_code == 200 and hf and v1["data"]
    assert searched == [q]  # one keyword search (and one dense) for the three
    # As the routes ask (no filters given, no paper hidden):
    fresh = service.search(q, limit=30, filters=SearchFilters())  # kept
    assert searched == [q]
    ids = [h.paper_id for h in fresh.hits]
    assert [item["paper"]["id"] for item in hf][:len(ids)] == ids[:len(hf)]
    assert [d["paper"]["id"] for d in v1["data"]] == ids[:len(v1["data"])]
    service.rankings.max_age = -1.0  # older than DAILYPAPERS_CACHE_SECONDS: ranked again
    again = service.search(q, limit=30, filters=SearchFilters())
    assert searched == [q, q] and [h.paper_id for h in again.hits] == ids
    service.rankings.max_age = 60.0
    service.search(q, limit=30, filters=SearchFilters(), mode="dense")  # another mode is another ranking
    assert len(searched) == 3
    service.search(q, limit=30, filters=SearchFilters())
    assert len(searched) == 3
    # The vectors move (a paper embedded): the kept ranking is not taken.
    vectors = service.vectors
    monkeypatch.setattr(vectors, "watermark", vectors.watermark + 1)
    service.search(q, limit=30, filters=SearchFilters())
    assert len(searched) == 4


def test_a_ranking_the_budget_cut_short_is_not_kept(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    service = app.state.search
    service.budget_ms = 0.0  # every search out of time after its keyword part
    cut = service.search("language model agents", limit=10)
    assert cut.partial
    service.budget_ms = 10_000.0
    whole = service.search("language model agents", limit=10)
    assert not whole.partial and whole.mode == "hybrid"
