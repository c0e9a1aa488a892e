"""What the response cache did, at /metrics (web/cache.py, metrics.CacheMeters): each anonymous
GET it handles counts once under dailypapers_response_cache_answers_total by outcome (hit,
stale, shared, rendered, uncached), each background refresh once as refreshed, and each render
is timed by outcome (rendered, refreshed).

Two apps on one database and one shared Redis stand for two web processes (their counts add up
in one scrape, as a node's processes do). Every outcome gets a different count, so a wrong label
or a double count shows. The cache's clock is ours (``clock``), as in test_cache_vote_lag.py."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace

import pytest
import redis
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from dailypapers import metrics
from dailypapers.web.app import create_app
from tests.test_cache_vote_lag import LAG, PATH, clock  # noqa: F401 (a fixture)
from tests.test_observability import Samples, moved
from tests.test_response_cache import PAPER, _user, loaded  # noqa: F401 (a fixture)
from tests.test_shared_cache import shared_settings  # noqa: F401 (a fixture)

ANSWERS = "dailypapers_response_cache_answers_total"
RENDERS = "dailypapers_response_cache_render_seconds_count"
STALE = "dailypapers_response_cache_stale_seconds"
DAY, LATER_DAY = "/papers/date/2026-03-02", "/papers/date/2026-03-03"
LOOPBACK = ("127.0.0.1", 50000)


def _scrape(web: TestClient) -> Samples:
    answer = web.get("/metrics")
    assert answer.status_code == 200, answer.text[:300]
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.text)
            for sample in family.samples}


def _get(http: TestClient, path: str, **headers: str) -> str:
    answer = http.get(path, headers=headers)
    assert answer.status_code == 200, (path, answer.text[:300])
    return answer.headers.get("x-cache", "-")


def _offered(settings, count: int) -> None:  # type: ignore[no-untyped-def]
    """The answers made so far are in Redis (each is offered after its answer left)."""
    client = redis.Redis.from_url(settings.cache_shared_url)
    deadline = time.monotonic() + 20
    while len(list(client.scan_iter(f"{settings.queue_prefix}:answer:*"))) < count:
        assert time.monotonic() < deadline, "the answers never reached the shared cache"
        time.sleep(0.01)


def _settled(app) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 20
    while app.state.cache_refreshes:
        assert time.monotonic() < deadline, "the refresh never ended"
        time.sleep(0.01)


def test_every_answer_counts_once_by_what_the_cache_did(loaded, shared_settings, clock):  # noqa: F811
    settings = shared_settings.model_copy(update={"cache_vote_lag_seconds": LAG})
    one, two = create_app(settings, loaded), create_app(settings, loaded)
    cookie, token = _user(loaded)
    signed = {"Authorization": f"Bearer {token}"}
    # From loopback, which /metrics answers; one address, as behind one listening socket.
    with TestClient(one, client=LOOPBACK) as a, TestClient(two, client=LOOPBACK) as b:
        before = _scrape(a)
        made = [PATH, DAY, LATER_DAY, f"/papers/{PAPER}"]
        assert [_get(a, path) for path in made] == ["miss"] * 4  # rendered: 4
        _offered(settings, len(made))
        # The other process takes two lists from Redis, then has one of them itself.
        assert [_get(b, DAY), _get(b, LATER_DAY), _get(b, DAY)] == ["shared", "shared", "hit"]
        assert [_get(a, PATH) for _ in range(3)] == ["hit"] * 3  # hit: 1 + 3
        # Not looked up: six. Neither the vote below (a POST) nor the scrapes (a probe) count.
        assert _get(a, PATH, **signed) == "-"
        assert _get(a, "/papers", **signed) == "-"
        assert _get(a, PATH, Cookie=f"dp_session={cookie}") == "-"
        assert _get(a, DAY, Cookie=f"dp_session={cookie}") == "-"
        assert _get(a, PATH, Cookie="dp_session=expired") == "-"
        assert "x-cache" not in a.get("/reset/SOME-TOKEN").headers
        a.post(f"/api/v1/papers/{PAPER}/vote", headers=signed).raise_for_status()
        # Within the lag: stale three times; the last, half the lag after the answer was
        # made, starts the one refresh (which renders: the vote changed what Redis holds too).
        clock.now += LAG / 2 - 0.5
        assert [_get(a, PATH), _get(a, PATH)] == ["stale", "stale"]
        _settled(one)
        clock.now += 0.5
        assert _get(a, PATH) == "stale"
        _settled(one)
        answer = a.get(PATH)  # hit: 5, with the vote
        assert (answer.headers["x-cache"], answer.json()["upvotes"]) == ("hit", 8)
        after = _scrape(a)
    counts = {outcome: moved(before, after, ANSWERS, outcome=outcome)
              for outcome in metrics.CACHE_OUTCOMES}
    assert counts == {"hit": 5, "stale": 3, "shared": 2, "rendered": 4, "refreshed": 1,
                      "uncached": 6}
    assert {outcome: moved(before, after, RENDERS, outcome=outcome)
            for outcome in metrics.RENDER_OUTCOMES} == {"rendered": 4, "refreshed": 1}
    # The voted answer was first served stale 0.5 s (by the cache's clock) before its refresh
    # ended: one observation of 0.5 s.
    assert moved(before, after, STALE + "_count") == 1
    assert moved(before, after, STALE + "_sum") == pytest.approx(0.5)
    assert moved(before, after, STALE + "_bucket", le="1.0") == 1


class _Unusable:
    """A metric child whose folder went away: every write fails."""

    def inc(self, *_args: object) -> None:
        raise OSError("No such file or directory")

    observe = inc


def test_an_unusable_metrics_folder_stops_the_counting_not_the_answers(
        loaded, settings, monkeypatch, caplog):  # noqa: F811
    real = metrics.instruments()
    broken = SimpleNamespace(labels=lambda **_labels: _Unusable())
    monkeypatch.setattr(metrics, "instruments", lambda: SimpleNamespace(
        **{**real.__dict__, "cache_answers": broken, "cache_render_seconds": broken,
           "cache_stale_seconds": _Unusable()}))
    app = create_app(settings, loaded)
    with caplog.at_level(logging.WARNING, logger="dailypapers.metrics"), TestClient(app) as web:
        served = [web.get(PATH) for _ in range(3)]
    assert [(r.status_code, r.headers["x-cache"]) for r in served] == \
        [(200, "miss"), (200, "hit"), (200, "hit")]
    warned = [r for r in caplog.records if "response cache metrics stop" in r.getMessage()]
    assert len(warned) == 1
