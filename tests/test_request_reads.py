"""A request's read transaction (web/request_reads.py): opened in the route's thread at its first
read, ended in that same thread as the route returns, so an anonymous page costs one hand-off to
the threadpool; what a route leaves open is still ended, and a failed route's is rolled back."""

from __future__ import annotations

import functools
import threading

import anyio.to_thread
import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from dailypapers.ingest.files import import_paths
from dailypapers.web.app import create_app
from dailypapers.web.request_reads import AppRoute, LazyRead
from tests.helpers import hf_item, write_json

PAPER = "2603.00001"


@pytest.fixture
def client(engine, settings, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    import_paths(engine, [write_json(tmp_path / "2026-03-02.json", [
        hf_item(PAPER, title="Widget study", upvotes=7, day="2026-03-02")])])
    # The response cache off: every request renders (the cache's own reads are its business).
    app = create_app(settings.model_copy(update={"cache_bytes": 0}), engine)
    with TestClient(app) as client:
        yield client


def _count_hand_offs(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """The functions handed to the threadpool from here on."""
    handed: list[str] = []
    real = anyio.to_thread.run_sync

    async def counting(func, *args, **kwargs):  # type: ignore[no-untyped-def]
        inner = func.func if isinstance(func, functools.partial) else func
        handed.append(getattr(inner, "__name__", repr(inner)))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    return handed


def _pool_threads(engine) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    seen: list[tuple[str, int]] = []
    sa.event.listen(engine, "checkout", lambda *a: seen.append(("out", threading.get_ident())))
    sa.event.listen(engine, "checkin", lambda *a: seen.append(("in", threading.get_ident())))
    return seen


@pytest.mark.parametrize("path", ["/papers/date/2026-03-02", f"/papers/{PAPER}",
                                  "/api/daily_papers?date=2026-03-02", f"/api/papers/{PAPER}"])
def test_an_anonymous_answer_is_one_hand_off_and_its_read_ends_in_that_thread(
        client, engine, monkeypatch, path):  # type: ignore[no-untyped-def]
    client.get(path)  # start-up reads (templates, media) out of the way
    handed = _count_hand_offs(monkeypatch)
    seen = _pool_threads(engine)
    response = client.get(path)
    assert response.status_code == 200
    # The route only: no thread for the connection's start, its end, the single-value check or
    # the anonymous user (each was one before).
    assert handed == ["_run_sync_endpoint"], handed
    assert [kind for kind, _ in seen] == ["out", "in"]
    assert seen[0][1] == seen[1][1]  # checked out and back in by the route's own thread
    assert engine.pool.checkedout() == 0


def test_a_failed_route_rolls_its_read_back_and_returns_the_connection(
        client, engine, monkeypatch):  # type: ignore[no-untyped-def]
    ended: list[bool] = []
    real_end = LazyRead.end

    def end(self, failed=False):  # type: ignore[no-untyped-def]
        ended.append(failed and self.opened)
        real_end(self, failed)

    monkeypatch.setattr(LazyRead, "end", end)
    assert client.get("/papers/2603.09999").status_code == 404  # read, then raised
    assert ended == [True]
    assert engine.pool.checkedout() == 0
    assert client.get("/papers/date/2026-03-02").status_code == 200
    assert ended[-1] is False


def test_a_read_the_route_did_not_end_is_ended_after_the_answer(engine):  # type: ignore[no-untyped-def]
    """A reader asked for by a dependency only (no ConnDep parameter of the route) stays open
    after the route; the dependency ends it in a thread."""
    reader = LazyRead(engine)
    assert not reader.opened and engine.pool.checkedout() == 0  # nothing until asked
    assert reader.execute(sa.text("SELECT 1")).scalar() == 1
    assert reader.opened and engine.pool.checkedout() == 1
    reader.end()
    assert not reader.opened and engine.pool.checkedout() == 0
    with pytest.raises(RuntimeError, match="has ended"):  # never reopened behind our back
        reader.execute(sa.text("SELECT 1"))
    assert engine.pool.checkedout() == 0


def test_every_route_of_the_app_ends_its_reads(engine, settings):  # type: ignore[no-untyped-def]
    """A router made without ``route_class=AppRoute`` would bring back the hand-offs silently."""
    app = create_app(settings, engine)
    routes = [r for r in app.routes if isinstance(r, APIRoute)]
    assert routes and all(isinstance(r, AppRoute) for r in routes), [
        r.path for r in routes if not isinstance(r, AppRoute)]


@pytest.mark.parametrize("slots", [1, 3])
def test_renders_wait_on_the_loop_for_one_of_the_render_slots(
        engine, settings, tmp_path, monkeypatch, slots):  # type: ignore[no-untyped-def]
    """DAILYPAPERS_RENDER_CONCURRENCY: at most that many renders at once in a web process."""
    import asyncio
    import time

    import httpx

    from dailypapers import catalog

    import_paths(engine, [write_json(tmp_path / "2026-03-02.json", [
        hf_item(PAPER, title="Widget study", upvotes=7, day="2026-03-02")])])
    app = create_app(settings.model_copy(update={"render_concurrency": slots,
                                                 "cache_bytes": 0}), engine)
    lock, running, most = threading.Lock(), [0], [0]
    real = catalog.entries_in

    def slow_read(*args, **kwargs):  # type: ignore[no-untyped-def]
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.3)
        with lock:
            running[0] -= 1
        return real(*args, **kwargs)

    monkeypatch.setattr(catalog, "entries_in", slow_read)

    async def three_renders() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            answers = await asyncio.gather(*(c.get(f"/papers/date/2026-03-02?sort={sort}")
                                             for sort in ("trending", "upvotes", "newest")))
        return [a.status_code for a in answers]

    assert asyncio.run(three_renders()) == [200, 200, 200]
    assert most[0] == slots


def test_a_render_that_waits_too_long_for_a_slot_is_a_503_with_retry_after(
        engine, settings, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """No request waits without bound: as long as for a pooled connection, then a 503."""
    import asyncio
    import time

    import httpx

    from dailypapers import catalog

    import_paths(engine, [write_json(tmp_path / "2026-03-02.json", [
        hf_item(PAPER, title="Widget study", upvotes=7, day="2026-03-02")])])
    app = create_app(settings.model_copy(update={
        "render_concurrency": 1, "cache_bytes": 0, "db_pool_timeout_seconds": 0.2}), engine)
    real = catalog.entries_in
    monkeypatch.setattr(catalog, "entries_in",
                        lambda *a, **k: time.sleep(1.0) or real(*a, **k))

    async def two() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            slow = asyncio.ensure_future(c.get("/papers/date/2026-03-02"))
            await asyncio.sleep(0.1)  # the first holds the one slot
            started = time.monotonic()
            page, api = await asyncio.gather(c.get("/papers/date/2026-03-02?sort=newest"),
                                             c.get("/api/daily_papers?date=2026-03-02"))
            waited = time.monotonic() - started
            return [await slow, page, api, waited]  # type: ignore[list-item]

    first, page, api, waited = asyncio.run(two())
    assert first.status_code == 200
    assert page.status_code == api.status_code == 503 and waited < 0.9
    assert page.headers["retry-after"] and api.headers["retry-after"]
    assert "busy" in page.text and api.json()["error"].startswith("the server is busy")
