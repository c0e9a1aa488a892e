"""The probes (/healthz, /readyz) and what a request gets when the database cannot be reached: a
503 with Retry-After (JSON under /api/, a page otherwise) within the connect timeout, never a hang
and never a 500. Over real HTTP, against a PostgreSQL address where nothing listens, one where
something listens but never answers, a pool with no free connection, and the real test
databases."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from dailypapers.db.engine import make_engine
from dailypapers.settings import Settings
from dailypapers.web.app import create_app
from tests.conftest import TEST_SECRET_KEY, LiveServer, free_port
from tests.test_db_pool import pg_url  # noqa: F401 - fixture: PostgreSQL only, emptied

PAGES = ["/papers", "/papers/2603.00001", "/search?q=graph", "/papers/trending"]
API = ["/api/daily_papers", "/api/papers/2603.00001", "/api/v1/search?q=graph",
       "/api/papers/search?q=graph"]
CONNECT_TIMEOUT = 2  # libpq's least


def unreachable_app(url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = Settings(database_url=url, data_dir=tmp_path, secret_key=TEST_SECRET_KEY,
                        db_connect_timeout_seconds=CONNECT_TIMEOUT)
    return create_app(settings, make_engine(url, **settings.engine_options))


@pytest.fixture
def down_server(tmp_path: Path) -> Iterator[LiveServer]:
    """The app on a PostgreSQL address where nothing listens (connections are refused)."""
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/dailypapers"
    with LiveServer(unreachable_app(url, tmp_path)) as server:
        yield server


def test_healthz_answers_while_the_database_is_down(down_server: LiveServer) -> None:
    answer = httpx.get(down_server.url + "/healthz")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["content-security-policy"]  # one of the security headers, as everywhere


def test_readyz_names_the_database_when_it_is_down(down_server: LiveServer) -> None:
    answer = httpx.get(down_server.url + "/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "unavailable" and body["down"] == ["database"]
    assert body["checks"]["database"] == "unreachable"
    assert "127.0.0.1" not in answer.text  # the driver's words (hosts, ports) stay in the log


def test_every_request_that_needs_the_database_gets_a_503_with_retry_after(
        down_server: LiveServer) -> None:
    http = httpx.Client(base_url=down_server.url, timeout=30)
    signed_in = httpx.Client(base_url=down_server.url, timeout=30,
                             cookies={"dp_session": "x" * 43})
    for path in API:
        answer = http.get(path)
        assert answer.status_code == 503, (path, answer.text[:200])
        assert answer.headers["retry-after"] == "5"
        assert answer.headers["content-type"].startswith("application/json")
        assert "cannot be reached" in answer.json()["error"]
    # Signed in or not (finding the user needs the database too), a page says it in HTML.
    for client, paths in ((http, PAGES), (signed_in, [*PAGES, "/account"])):
        for path in paths:
            answer = client.get(path)
            assert answer.status_code == 503, (path, answer.text[:200])
            assert answer.headers["retry-after"] == "5"
            assert answer.headers["content-type"].startswith("text/html")
            assert "Temporarily unavailable" in answer.text and "Traceback" not in answer.text
            assert answer.headers["cache-control"] == "no-store"
    assert http.head("/papers").status_code == 503


def test_a_database_that_never_answers_costs_the_connect_timeout_not_a_hang(
        tmp_path: Path) -> None:
    """Something accepts the connection (the kernel does, for a listening socket) and never says
    a word: without a connect timeout libpq would wait forever."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        url = f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/dailypapers"
        with LiveServer(unreachable_app(url, tmp_path)) as server:
            for path in ("/api/daily_papers", "/papers"):
                started = time.monotonic()
                answer = httpx.get(server.url + path, timeout=30)
                waited = time.monotonic() - started
                assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
                assert CONNECT_TIMEOUT - 0.5 < waited < CONNECT_TIMEOUT + 3, waited


def test_readyz_waits_for_the_indexes_of_this_process(settings: Settings,
                                                      engine: sa.Engine) -> None:
    # No lifespan (TestClient outside ``with``): the index thread has not caught up yet.
    app = create_app(settings, engine, index_worker=True)
    client = TestClient(app)
    early = client.get("/readyz")
    assert early.status_code == 503
    assert early.json()["down"] == ["indexes"]
    assert early.json()["checks"] == {"database": "ok", "indexes": "loading"}
    app.state.search.catch_up()  # what the index thread does first
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "indexes": "ok"},
                            "vector_search": "exact"}  # a few vectors: no graph needed
    # An app without an index thread loads its indexes at the first search: nothing to wait for.
    plain = TestClient(create_app(settings, engine)).get("/readyz")
    assert plain.json() == {"status": "ok", "checks": {"database": "ok"}}


def test_readyz_checks_the_queue_when_one_is_set(sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    base = Settings(database_url=sqlite_url, data_dir=tmp_path, secret_key=TEST_SECRET_KEY)
    # DAILYPAPERS_QUEUE_URL (the task queue's setting) set as the environment would set it.
    answering = base.model_copy(update={"queue_url": "redis://127.0.0.1:6379/0"})
    silent = base.model_copy(update={"queue_url": f"redis://:pw@127.0.0.1:{free_port()}/0"})
    ok = TestClient(create_app(answering, engine)).get("/readyz")
    assert ok.status_code == 200, ok.text
    assert ok.json()["checks"] == {"database": "ok", "queue": "ok"}
    down = TestClient(create_app(silent, engine)).get("/readyz")
    assert down.status_code == 503
    assert down.json()["down"] == ["queue"] and "pw" not in down.text
    engine.dispose()


def test_a_request_that_finds_every_pooled_connection_busy_gets_a_503(
        pg_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=pg_url, data_dir=tmp_path, secret_key=TEST_SECRET_KEY,
                        db_pool_size=1, db_max_overflow=0, db_pool_timeout_seconds=1)
    engine = make_engine(pg_url, **settings.engine_options)
    with LiveServer(create_app(settings, engine)) as server:
        with engine.connect():  # the pool's one connection, busy elsewhere
            started = time.monotonic()
            busy = httpx.get(server.url + "/api/daily_papers", timeout=30)
            waited = time.monotonic() - started
        free = httpx.get(server.url + "/api/daily_papers", timeout=30)
    engine.dispose()
    assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
    assert 0.9 < waited < 4, waited  # DAILYPAPERS_DB_POOL_TIMEOUT_SECONDS, not SQLAlchemy's 30 s
    assert free.status_code == 200
