"""Cached answers and the search indexes (web/cache.py, index/search.py's ``index_tokens``): an
answer is kept only while the parts of the indexes it used stay put, and a page that used none
outlives every index change. A vote moves a document's upvotes in the keyword index, which only a
ranking by upvotes reads."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from dailypapers.community.votes import set_vote
from dailypapers.db.engine import db_now, write_transaction
from dailypapers.db.schema import papers
from dailypapers.ingest.files import import_paths
from dailypapers.rank.trending import TrendingParams
from dailypapers.web.app import create_app
from tests.helpers import add_voter, hf_item, write_json

WIDGET, GADGET, SPROCKET = "2603.00001", "2603.00002", "2603.00003"
RELEVANCE = "/api/v1/search?q=widget"
BY_UPVOTES = "/api/v1/search?q=widget&sort=upvotes"
DAY = "/papers/date/2026-03-02"


@pytest.fixture
def loaded(engine, tmp_path):  # type: ignore[no-untyped-def]
    import_paths(engine, [write_json(tmp_path / "2026-03-02.json", [
        hf_item(WIDGET, title="Widget study", upvotes=7, day="2026-03-02"),
        hf_item(GADGET, title="Gadget study", upvotes=5, day="2026-03-02"),
        hf_item(SPROCKET, title="Sprocket widget survey", upvotes=1, day="2026-03-02")])])
    add_voter(engine)
    return engine


def _cache(web: TestClient, path: str) -> str:
    answer = web.get(path)
    assert answer.status_code == 200, answer.text
    return answer.headers["x-cache"]


def _ids(web: TestClient, path: str) -> list[str]:
    return [hit["paper"]["id"] for hit in web.get(path).json()["data"]]


def test_answers_end_with_the_index_parts_they_used_and_no_others(loaded, settings):
    app = create_app(settings.model_copy(update={"cache_seconds": 600}), loaded)
    with TestClient(app) as web:
        search = app.state.search
        search.catch_up()  # builds the keyword index: the tests' app runs no index thread
        for path in (RELEVANCE, BY_UPVOTES, DAY):
            _cache(web, path)
            assert _cache(web, path) == "hit", path
        assert _ids(web, BY_UPVOTES) == [WIDGET, SPROCKET]

        # A vote on the gadget study, which neither search shows: once the index has its new
        # count, the answer ranked by upvotes is made again; the one ranked by text is kept.
        with write_transaction(loaded, changes="votes") as conn:
            set_vote(conn, 1, GADGET, True, TrendingParams())
        text, every = search.index_tokens()["text"], search.index_tokens()["keyword"]
        search.catch_up()
        assert search.index_tokens()["text"] == text and search.index_tokens()["keyword"] != every
        assert _cache(web, RELEVANCE) == "hit"
        assert _cache(web, BY_UPVOTES) == "miss"
        assert _cache(web, DAY) == "miss"  # it shows the gadget study's count

        # Hugging Face's count puts the sprocket survey first: seen once the index has it.
        with write_transaction(loaded) as conn:  # "data": every cached answer ends
            conn.execute(papers.update().where(papers.c.id == SPROCKET).values(
                upvotes=50, counts_updated_at=db_now(conn)))
        assert _ids(web, BY_UPVOTES) == [WIDGET, SPROCKET]  # the index does not know yet
        assert _cache(web, BY_UPVOTES) == "hit"
        search.catch_up()
        assert _ids(web, BY_UPVOTES) == [SPROCKET, WIDGET]

        # A new title the index has not taken in yet: the search answer made now is made from
        # the old text, and must end when the index moves; the day's list used no index.
        with write_transaction(loaded) as conn:
            conn.execute(papers.update().where(papers.c.id == WIDGET).values(
                title="Gizmo study", row_updated_at=db_now(conn)))
        assert _ids(web, RELEVANCE) == [WIDGET, SPROCKET]
        _cache(web, DAY)
        assert _cache(web, RELEVANCE) == "hit" and _cache(web, DAY) == "hit"
        search.catch_up()
        assert search.index_tokens()["text"] != text
        assert _cache(web, DAY) == "hit"
        assert _cache(web, RELEVANCE) == "miss"
        assert _ids(web, RELEVANCE)[0] == SPROCKET  # the old title no longer ranks first


def test_the_keyword_index_tells_a_change_of_counts_from_one_of_text(loaded, settings):
    """Another process's commit to the shared folder counts by its kind too (the state file)."""
    from dailypapers.index.search import SearchService

    one = SearchService(loaded, settings.data_dir)
    two = SearchService(loaded, settings.data_dir)
    one.catch_up()
    two.catch_up()
    before = {name: two.index_tokens()[name] for name in ("text", "keyword")}
    with write_transaction(loaded, changes="votes") as conn:
        set_vote(conn, 1, WIDGET, True, TrendingParams())
    one.catch_up()  # commits the new count; two only sees the folder move
    two.catch_up()
    assert two.index_tokens()["text"] == before["text"]
    assert two.index_tokens()["keyword"] != before["keyword"]
    with write_transaction(loaded) as conn:
        conn.execute(papers.update().where(papers.c.id == GADGET).values(
            abstract="A new abstract", row_updated_at=db_now(conn)))
    one.catch_up()
    two.catch_up()
    assert two.index_tokens()["text"] != before["text"]


def test_only_answers_that_read_the_keyword_index_or_the_clock_age_out(loaded, settings,
                                                                       monkeypatch):
    """DAILYPAPERS_CACHE_SECONDS bounds what nothing announces: another process's keyword commit
    and midnight ("Today" on the latest list). A day page, a paper's page (similar papers: the
    vectors, which this process loads itself) and the API's paper live until a write ends them,
    or SAFETY_SECONDS."""
    from types import SimpleNamespace

    from dailypapers.web import cache

    now = [time.monotonic()]  # the real clock's now: other modules read that one
    monkeypatch.setattr(cache, "time", SimpleNamespace(monotonic=lambda: now[0]))
    app = create_app(settings.model_copy(update={"cache_seconds": 60}), loaded)
    bounded = (RELEVANCE, "/search?q=widget", "/papers")
    kept = (DAY, f"/papers/{WIDGET}", f"/api/papers/{WIDGET}",
            "/api/daily_papers?date=2026-03-02")
    with TestClient(app) as web:
        app.state.search.catch_up()
        for path in (*bounded, *kept):
            assert _cache(web, path) == "miss", path
            assert _cache(web, path) == "hit", path
        now[0] += 59
        assert {p: _cache(web, p) for p in (*bounded, *kept)} == dict.fromkeys(
            (*bounded, *kept), "hit")
        now[0] += 2  # 61 s after they were made
        assert {p: _cache(web, p) for p in (*bounded, *kept)} == {
            **dict.fromkeys(bounded, "miss"), **dict.fromkeys(kept, "hit")}
        now[0] += cache.SAFETY_SECONDS - 60  # the kept ones: just past the safety net
        assert {p: _cache(web, p) for p in kept} == dict.fromkeys(kept, "miss")
