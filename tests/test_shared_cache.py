"""Cached answers across web processes (web/shared_cache.py, a real Redis on loopback) and one
render per answer within a process (web/cache.py's answers in flight). Two apps on one database
stand for two web processes: each has its own cache, both share the Redis."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid

import httpx
import pytest
import redis
from fastapi.responses import HTMLResponse, Response
from fastapi.testclient import TestClient

from dailypapers.community.votes import set_vote
from dailypapers.db.engine import write_transaction
from dailypapers.ingest.files import import_paths
from dailypapers.rank.trending import TrendingParams
from dailypapers.web.app import create_app
from tests.helpers import add_voter, hf_item, write_json

REDIS = os.environ.get("DAILYPAPERS_TEST_REDIS_URL", "redis://127.0.0.1:6379") + "/11"
WIDGET, GADGET, ELSEWHERE = "2603.00001", "2603.00002", "2603.00003"
DAY, OTHER_DAY = "/papers/date/2026-03-02", "/papers/date/2026-03-03"


@pytest.fixture
def loaded(engine, tmp_path):  # type: ignore[no-untyped-def]
    import_paths(engine, [
        write_json(tmp_path / "2026-03-02.json", [
            hf_item(WIDGET, title="Widget study", upvotes=7, day="2026-03-02"),
            hf_item(GADGET, title="Gadget study", upvotes=5, day="2026-03-02")]),
        write_json(tmp_path / "2026-03-03.json", [
            hf_item(ELSEWHERE, title="Sprocket widget survey", upvotes=1, day="2026-03-03")])])
    add_voter(engine)
    return engine


@pytest.fixture
def shared_settings(settings):  # type: ignore[no-untyped-def]
    prefix = f"dptest-{uuid.uuid4().hex[:8]}"  # this test's keys only
    yield settings.model_copy(update={"cache_shared_url": REDIS, "queue_prefix": prefix})
    client = redis.Redis.from_url(REDIS)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def _get(web: TestClient, path: str) -> tuple[str, str]:
    answer = web.get(path)
    assert answer.status_code == 200, answer.text
    return answer.headers["x-cache"], answer.text


def _vote(engine, paper: str) -> None:  # type: ignore[no-untyped-def]
    with write_transaction(engine, changes="votes") as conn:
        set_vote(conn, 1, paper, True, TrendingParams())


def test_an_answer_made_by_one_process_is_taken_by_another_while_good(loaded, shared_settings):
    one, two, three = (create_app(shared_settings, loaded) for _ in range(3))
    with TestClient(one) as a, TestClient(two) as b, TestClient(three) as c:
        api = f"/api/papers/{WIDGET}"
        made = {path: _get(a, path) for path in (DAY, OTHER_DAY, api)}
        assert {path: cache for path, (cache, _) in made.items()} == dict.fromkeys(made, "miss")
        for path, (_, body) in made.items():  # the other process takes it, then has it
            assert _get(b, path) == ("shared", body), path
            assert _get(b, path) == ("hit", body), path

        # A vote on the widget study: the answers that show it are not taken any more (their
        # vote stamps moved); the other day's list still is.
        _vote(loaded, WIDGET)
        assert _get(c, OTHER_DAY) == ("shared", made[OTHER_DAY][1])
        remade = {}
        for path in (DAY, api):
            cache, remade[path] = _get(c, path)
            assert cache == "miss" and remade[path] != made[path][1], path
        assert '"upvotes":8' in remade[api].replace(" ", "")  # 7 from Hugging Face, 1 here
        # The first process's own copy ended too: it takes the new one.
        assert _get(a, DAY) == ("shared", remade[DAY])
        assert two.state.shared_answers.refused == 0
        assert three.state.shared_answers.refused == 2  # read, checked, refused


def test_searches_by_upvotes_are_never_shared_and_votes_bound_answers_only_at_their_version(
        loaded, shared_settings):
    one, two = create_app(shared_settings, loaded), create_app(shared_settings, loaded)
    with TestClient(one) as a, TestClient(two) as b:
        for app in (one, two):
            app.state.search.catch_up()
        search, by_upvotes = "/api/v1/search?q=widget", "/api/v1/search?q=widget&sort=upvotes"
        latest = "/api/daily_papers"  # the newest across days: a vote may change which
        made = _get(a, search)
        assert made[0] == "miss" and _get(b, search) == ("shared", made[1])
        assert _get(a, by_upvotes)[0] == "miss" and _get(a, by_upvotes)[0] == "hit"
        assert _get(b, by_upvotes)[0] == "miss"  # a vote elsewhere may move it: its own only
        other = "/api/v1/search?q=study"
        assert _get(a, other)[0] == "miss"
        two.state.shared_answers.shared_index_tokens = lambda: {"text": "another folder"}
        assert _get(b, other)[0] == "miss"  # not the index it was made with
        assert _get(a, latest)[0] == "miss"
        assert _get(b, latest)[0] == "shared"
        _vote(loaded, ELSEWHERE)  # moves the votes version, which that answer depends on
        assert _get(a, latest)[0] == "miss"  # made again at the new votes version (and shared)
        with TestClient(create_app(shared_settings, loaded)) as c:
            assert _get(c, latest)[0] == "shared"


def test_a_shared_answer_keeps_its_age(loaded, shared_settings, monkeypatch):
    """The latest list read the clock: another process takes it only while it is younger than
    DAILYPAPERS_CACHE_SECONDS, counted from when it was made, not from when it was taken."""
    from types import SimpleNamespace

    from dailypapers.web import cache, shared_cache

    now = [1_000_000.0]
    clock = SimpleNamespace(monotonic=lambda: now[0], time=lambda: now[0])
    monkeypatch.setattr(cache, "time", clock)
    monkeypatch.setattr(shared_cache, "time", clock)
    fast = shared_settings.model_copy(update={"cache_seconds": 60})
    with TestClient(create_app(fast, loaded)) as a:
        assert _get(a, "/papers")[0] == "miss" and _get(a, DAY)[0] == "miss"
    now[0] += 50
    with TestClient(create_app(fast, loaded)) as b:
        assert _get(b, "/papers")[0] == "shared" and _get(b, DAY)[0] == "shared"
        now[0] += 11  # 61 s after it was made, 11 s after b took it
        assert _get(b, "/papers")[0] == "miss"
        assert _get(b, DAY)[0] == "hit"  # read no clock: kept until a write ends it


def test_a_redis_that_does_not_answer_costs_only_the_sharing(loaded, settings, caplog):
    with socket_closed() as port:
        away = settings.model_copy(update={"cache_shared_url": f"redis://127.0.0.1:{port}/0"})
        with TestClient(create_app(away, loaded)) as web:
            assert _get(web, DAY)[0] == "miss"
            assert _get(web, DAY)[0] == "hit"
            assert _get(web, OTHER_DAY)[0] == "miss"
    assert any("shared answer cache" in r.getMessage() for r in caplog.records)


class socket_closed:  # noqa: N801 - a port where nothing listens
    def __enter__(self) -> int:
        from tests.conftest import free_port
        return free_port()

    def __exit__(self, *exc: object) -> None:
        return None


def _slow_app(settings, engine, personal: bool):  # type: ignore[no-untyped-def]
    app = create_app(settings, engine)
    entered, release = [], threading.Event()

    @app.get("/slow", include_in_schema=False)
    def slow() -> Response:
        entered.append(time.monotonic())
        release.wait(10)
        answer = HTMLResponse(f"made {len(entered)}")
        if personal:
            answer.set_cookie("seen", "1")  # personal: never kept, never handed to another
        return answer

    return app, entered, release


@pytest.mark.parametrize("personal", [False, True])
def test_concurrent_requests_for_one_answer_render_it_once(loaded, settings, personal):
    """Five readers ask for the same answer at once: one renders it, the others wait and take
    it. An answer that may not be kept (personal) is made by each of them after all."""
    app, entered, release = _slow_app(settings, loaded, personal)

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            asks = [asyncio.create_task(client.get("/slow")) for _ in range(5)]
            while not entered:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.5)  # the other four reach the answer in flight meanwhile
            release.set()
            return await asyncio.gather(*asks)

    with TestClient(app):  # the app's start-up (its jobs, the listener)
        answers = asyncio.run(run())
    assert [a.status_code for a in answers] == [200] * 5
    if personal:
        assert len(entered) == 5
        assert sorted(a.text for a in answers) == [f"made {n}" for n in range(1, 6)]
    else:
        assert len(entered) == 1
        assert [a.text for a in answers] == ["made 1"] * 5
        assert sorted(a.headers["x-cache"] for a in answers) == ["hit"] * 4 + ["miss"]


def test_an_answer_that_used_the_vectors_is_taken_only_at_the_same_vectors(loaded,
                                                                           shared_settings):
    paper = f"/papers/{WIDGET}"  # its similar papers come from the vectors
    one, two = create_app(shared_settings, loaded), create_app(shared_settings, loaded)
    with TestClient(one) as a, TestClient(two) as b:
        assert _get(a, paper)[0] == "miss"
        kept = [e for k, e in one.state.response_cache._entries.items() if k[1] == paper]
        assert kept and "vectors" in (kept[0].indexes or {})
        mine = two.state.shared_answers.shared_index_tokens
        two.state.shared_answers.shared_index_tokens = lambda: {"vectors": (10**9, 1)}
        assert _get(b, paper)[0] == "miss"  # its vectors are at other rows
        two.state.shared_answers.shared_index_tokens = mine
        assert _get(b, f"/papers/{GADGET}")[0] == "miss"
        assert _get(a, f"/papers/{GADGET}")[0] == "shared"
