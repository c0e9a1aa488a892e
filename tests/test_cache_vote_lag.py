"""DAILYPAPERS_CACHE_VOTE_LAG_SECONDS (web/cache.py): a cached anonymous answer that only votes
changed is still served, for at most the lag after the change was first seen, while one refresh
in the background makes it anew; the refresh starts once the answer is half the lag old. The
cache's clock is ours here (``clock``), so each bound is met on the exact side of it."""

from __future__ import annotations

import re
import threading
import time
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from dailypapers import catalog
from dailypapers.web import cache as cache_module
from dailypapers.web.app import create_app
from tests.test_response_cache import PAPER, _user, loaded  # noqa: F401 (a fixture)

LAG = 10.0
PATH = f"/api/papers/{PAPER}"


class Clock:
    """The cache's clock, moved by the test. It starts at the real one: code that reads the
    real clock beside it (web/shared_cache.py's age of an answer) must not see an answer made
    hours ago (a fixed start of 1000 s did, once the machine had been up over an hour)."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):  # type: ignore[no-untyped-def]
    clock = Clock()
    monkeypatch.setattr(cache_module, "time", SimpleNamespace(monotonic=clock.monotonic))
    return clock


def _served(web: TestClient) -> tuple[str, int]:
    answer = web.get(PATH)
    assert answer.status_code == 200, answer.text
    return answer.headers["x-cache"], answer.json()["upvotes"]


def _settled(app) -> None:  # type: ignore[no-untyped-def]
    """The refreshes started are done (they run on the test client's event loop)."""
    deadline = time.monotonic() + 20
    while app.state.cache_refreshes:
        assert time.monotonic() < deadline, "the refresh never ended"
        time.sleep(0.01)


@pytest.fixture
def lagging(loaded, settings):  # type: ignore[no-untyped-def]  # noqa: F811
    app = create_app(settings.model_copy(update={"cache_vote_lag_seconds": LAG}), loaded)
    with TestClient(app) as web:
        _cookie, token = _user(loaded)
        web.vote = lambda: web.post(f"/api/v1/papers/{PAPER}/vote",  # type: ignore[attr-defined]
                                    headers={"Authorization": f"Bearer {token}"},
                                    ).raise_for_status()
        web.unvote = lambda: web.delete(f"/api/v1/papers/{PAPER}/vote",  # type: ignore[attr-defined]
                                        headers={"Authorization": f"Bearer {token}"},
                                        ).raise_for_status()
        yield app, web


def test_a_voted_answer_is_served_stale_then_refreshed_once_within_the_lag(lagging, clock):
    app, web = lagging
    store = app.state.response_cache
    assert _served(web) == ("miss", 7)
    assert _served(web) == ("hit", 7)
    web.vote()
    # Less than half the lag since it was made: the old answer, and no render started.
    clock.now += LAG / 2 - 0.5
    made = store.misses
    assert _served(web) == ("stale", 7)
    _settled(app)
    assert store.misses == made and _served(web) == ("stale", 7)
    # Half the lag old: still the old answer to this request, and one refresh makes the new one.
    clock.now += 0.5
    assert _served(web) == ("stale", 7)
    _settled(app)
    assert store.misses == made + 1
    assert _served(web) == ("hit", 8)
    # The next vote is first seen a second after that answer was made: no refresh yet ...
    web.unvote()
    clock.now += 1
    assert _served(web) == ("stale", 8)
    _settled(app)
    made = store.misses
    # ... and past the lag it is never served again: this request renders it.
    clock.now += LAG + 0.001
    assert _served(web) == ("miss", 7)
    assert store.misses == made + 1


def test_requests_during_a_refresh_get_the_stale_answer_without_waiting(lagging, clock,
                                                                        monkeypatch):
    app, web = lagging
    store = app.state.response_cache
    assert _served(web)[0] == "miss"
    web.vote()
    release = threading.Event()
    read_paper = catalog.get_paper

    def slow_read(*args, **kwargs):  # type: ignore[no-untyped-def]
        assert release.wait(20), "never released"
        return read_paper(*args, **kwargs)

    monkeypatch.setattr(catalog, "get_paper", slow_read)
    clock.now += LAG / 2
    made = store.misses
    served = [_served(web) for _ in range(5)]  # the render holds: none of these waits on it
    assert served == [("stale", 7)] * 5
    release.set()
    _settled(app)
    assert store.misses == made + 1  # one refresh, not one per request
    assert _served(web) == ("hit", 8)


def test_a_refresh_that_fails_leaves_the_next_request_to_render(lagging, clock, monkeypatch):
    app, web = lagging
    store = app.state.response_cache
    assert _served(web)[0] == "miss"
    web.vote()
    read_paper = catalog.get_paper
    failures = []

    def failing_once(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not failures:
            failures.append(1)
            raise RuntimeError("the database went away for a moment")
        return read_paper(*args, **kwargs)

    monkeypatch.setattr(catalog, "get_paper", failing_once)
    clock.now += LAG / 2
    assert _served(web) == ("stale", 7)
    _settled(app)
    assert failures == [1]
    made = store.misses
    assert _served(web) == ("miss", 8)  # well within the lag, yet not the stale answer
    assert store.misses == made + 1


def test_without_a_lag_a_vote_ends_the_answer_at_once(loaded, settings, clock):  # noqa: F811
    assert settings.cache_vote_lag_seconds == 0  # the default
    app = create_app(settings, loaded)
    _cookie, token = _user(loaded)
    with TestClient(app) as web:
        assert _served(web) == ("miss", 7)
        web.post(f"/api/v1/papers/{PAPER}/vote",
                 headers={"Authorization": f"Bearer {token}"}).raise_for_status()
        assert _served(web) == ("miss", 8)


def test_a_refresh_under_way_at_shutdown_finishes(loaded, settings, clock,  # noqa: F811
                                                  monkeypatch):
    """Shutting down waits for a refresh still rendering, as for a request in flight: its new
    answer is kept, never cut off with the event loop."""
    app = create_app(settings.model_copy(update={"cache_vote_lag_seconds": LAG}), loaded)
    _cookie, token = _user(loaded)
    read_paper = catalog.get_paper
    started, release = threading.Event(), threading.Event()

    def held_read(*args, **kwargs):  # type: ignore[no-untyped-def]
        started.set()
        assert release.wait(20), "never released"
        return read_paper(*args, **kwargs)

    with TestClient(app) as web:
        store = app.state.response_cache
        assert _served(web) == ("miss", 7)
        web.post(f"/api/v1/papers/{PAPER}/vote",
                 headers={"Authorization": f"Bearer {token}"}).raise_for_status()
        monkeypatch.setattr(catalog, "get_paper", held_read)
        clock.now += LAG / 2
        assert _served(web) == ("stale", 7)
        assert started.wait(20)  # the refresh is rendering; the server now stops
        threading.Timer(0.3, release.set).start()
    [entry] = [e for key, e in store._entries.items() if key[1] == PATH]
    assert entry.stale_since is None and b'"upvotes":8' in entry.body


PAGE = f"/papers/{PAPER}"


def _page(web: TestClient) -> tuple[str, int]:
    answer = web.get(PAGE)
    assert answer.status_code == 200, answer.text
    [count] = re.findall(r'<strong class="count">(\d+)</strong>', answer.text)
    return answer.headers["x-cache"], int(count)


@pytest.fixture
def first_read_held(monkeypatch):  # type: ignore[no-untyped-def]
    """Once armed, the first catalog.get_paper waits for ``release``; the others go through."""
    read_paper = catalog.get_paper
    calls: list[int] = []
    release, armed = threading.Event(), threading.Event()

    def held(*args, **kwargs):  # type: ignore[no-untyped-def]
        if armed.is_set():
            calls.append(1)
            if len(calls) == 1:
                assert release.wait(20), "never released"
        return read_paper(*args, **kwargs)

    monkeypatch.setattr(catalog, "get_paper", held)
    return SimpleNamespace(calls=calls, release=release, arm=armed.set)


def _both_refreshing(app, web, clock, held) -> int:  # type: ignore[no-untyped-def]
    """The paper's JSON and page are both stale: the JSON's refresh renders (held in its read)
    and the page's waits its turn. Returns the renders made before these two."""
    store = app.state.response_cache
    assert _served(web) == ("miss", 7) and _page(web) == ("miss", 7)
    web.vote()
    held.arm()
    clock.now += LAG / 2
    made = store.misses
    assert _served(web) == ("stale", 7)
    deadline = time.monotonic() + 20
    while not held.calls:  # the JSON's refresh is in its read
        assert time.monotonic() < deadline, "the refresh never started"
        time.sleep(0.01)
    assert _page(web) == ("stale", 7)
    return made


def test_refreshes_take_turns_and_one_waiting_keeps_its_old_answer_past_the_lag(
        lagging, clock, first_read_held):
    app, web = lagging
    store = app.state.response_cache
    assert app.state.settings.cache_refresh_concurrency == 1  # the default
    made = _both_refreshing(app, web, clock, first_read_held)
    clock.now += LAG + 0.001  # past the lag for both, their refreshes still under way
    assert _page(web) == ("stale", 7) and _served(web) == ("stale", 7)
    # One render at a time: the page's waits for the JSON's.
    assert store.misses == made + 1 and len(first_read_held.calls) == 1
    first_read_held.release.set()
    _settled(app)
    assert store.misses == made + 2
    assert _served(web) == ("hit", 8) and _page(web) == ("hit", 8)


def test_past_its_bound_a_refreshing_answer_is_rendered_by_the_request(
        lagging, clock, first_read_held):
    app, web = lagging
    store = app.state.response_cache
    bound = app.state.settings.cache_seconds
    assert bound > LAG
    made = _both_refreshing(app, web, clock, first_read_held)
    clock.now += bound + 0.001
    # Neither request waits for a refresh: the JSON's is held, the page's waits behind it.
    started = time.monotonic()
    assert _page(web) == ("miss", 8) and _served(web) == ("miss", 8)
    assert time.monotonic() - started < 5
    first_read_held.release.set()
    _settled(app)
    # The page's refresh, its turn come, found the page made: 1 refresh + 2 requests rendered.
    assert store.misses == made + 3
    assert _page(web) == ("hit", 8) and _served(web) == ("hit", 8)


def test_more_refreshes_at_once_when_the_setting_says(loaded, settings, clock,  # noqa: F811
                                                      first_read_held):
    app = create_app(settings.model_copy(update={"cache_vote_lag_seconds": LAG,
                                                 "cache_refresh_concurrency": 2}), loaded)
    _cookie, token = _user(loaded)
    with TestClient(app) as web:
        web.vote = lambda: web.post(f"/api/v1/papers/{PAPER}/vote",  # type: ignore[attr-defined]
                                    headers={"Authorization": f"Bearer {token}"},
                                    ).raise_for_status()
        store = app.state.response_cache
        made = _both_refreshing(app, web, clock, first_read_held)
        # The page's refresh did not wait for the held one: it rendered the new count.
        deadline = time.monotonic() + 20
        while store.misses < made + 2 or _page(web)[0] != "hit":
            assert time.monotonic() < deadline, "the second refresh waited"
            time.sleep(0.01)
        assert _page(web) == ("hit", 8)
        first_read_held.release.set()
        _settled(app)
