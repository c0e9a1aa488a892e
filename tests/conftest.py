"""Fixtures: a migrated database per test on SQLite *and* PostgreSQL, an app, a live server.

PostgreSQL: a fresh database is created per test session on ``DAILYPAPERS_TEST_POSTGRES_URL``
(default the local server's ``test`` database as user postgres) and migrated with the real
migrations; each test starts from empty tables. Where no server answers the PostgreSQL half is
skipped with the reason, except under CI (``CI=true``), where it fails.

Optional extras: a test that needs a dependency ``make test`` does not install (it would bring
torch) is marked ``@pytest.mark.optional("what it needs")``; the run ends with one line counting
those that ran and those skipped. Under CI a skip for a missing module *without* the marker fails,
so no missing dependency hides silently.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
import uvicorn

from dailypapers.db.engine import make_engine
from dailypapers.db.migrate import upgrade
from dailypapers.db.schema import metadata
from dailypapers.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DAILYPAPERS_SHARED_DATA", REPO.parent / "shared" / "data"))
PG_ADMIN_URL = os.environ.get(
    "DAILYPAPERS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_SECRET_KEY = "test-secret-key-0123456789abcdef0123456789abcdef"


def shared(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        if IN_CI:
            pytest.fail(f"shared data not found: {path}")
        pytest.skip(f"shared data not found: {path}")
    return path


# --- databases -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with new_postgres_database() as url:
        yield url


@contextmanager
def new_postgres_database() -> Iterator[str]:
    """A migrated database of its own on the test server, dropped afterwards; skipped (failed
    under CI) where no server answers."""
    name = f"dailypapers_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        reason = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {str(exc).splitlines()[0]}"
        if IN_CI:
            pytest.fail(reason + " (CI=true: the PostgreSQL half must run)")
        pytest.skip(reason)
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        emptying = _EMPTYING.pop(url, None)
        if emptying is not None:
            emptying.dispose()
        drop_without_waiting(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def drop_without_waiting(admin: sa.Engine, statement: str) -> None:
    """Send ``statement`` and hang up: DROP DATABASE forces a checkpoint of the whole server
    (5-13 s at the end of a run), and the server finishes it without the client. Drivers other
    than psycopg wait for it."""
    raw = admin.raw_connection()
    pgconn = getattr(raw.driver_connection, "pgconn", None)
    if pgconn is None:
        raw.close()
        with admin.connect() as conn:
            conn.exec_driver_sql(statement)
        return
    raw.driver_connection.autocommit = True
    pgconn.send_query(statement.encode())
    while pgconn.flush():
        pass
    raw.invalidate()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "dailypapers.sqlite3"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    empty_postgres(url)
    return url


def empty_postgres(url: str) -> None:
    """Empty every table and restart its ids, as ``TRUNCATE … RESTART IDENTITY`` would.

    TRUNCATE gives each of ~30 tables and their indexes new files, fsynced at commit: ~0.3 s a
    test unloaded, over a second on a busy machine, across ~1,000 PostgreSQL tests. DELETE on
    the few tables a test filled (children first) and ``setval`` on the sequences it used cost a
    few milliseconds. No table has triggers, so DELETE does nothing TRUNCATE would not.

    One connection per database does it for the whole run (idle between tests, holding no lock;
    pinged before use): a new engine and connection per test cost ~20 ms more, ~1,000 times.
    """
    tables = list(reversed(metadata.sorted_tables))
    filled_probe = " UNION ALL ".join(
        f'SELECT {n} WHERE EXISTS (SELECT 1 FROM "{t.name}")' for n, t in enumerate(tables))
    engine = _EMPTYING.get(url)
    if engine is None:
        engine = _EMPTYING[url] = make_engine(url, pool_size=1, max_overflow=0,
                                              ping_after_idle_seconds=0)
    with engine.begin() as conn:
        for (n,) in sorted(conn.exec_driver_sql(filled_probe).all()):
            conn.exec_driver_sql(f'DELETE FROM "{tables[n].name}"')
        conn.exec_driver_sql(
            "SELECT setval(quote_ident(schemaname) || '.' || quote_ident(sequencename), "
            "start_value, false) FROM pg_sequences "
            "WHERE schemaname = current_schema() AND last_value IS NOT NULL")


_EMPTYING: dict[str, sa.Engine] = {}  # database URL -> the engine empty_postgres keeps


# A browser test whose rows the same module (or the one it names) already stores and reads back
# on both databases: the browser half only adds what chromium sees, the same on either, so it
# runs once, on SQLite.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "dailypapers.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    # A fixed key: on PostgreSQL the server needs one (several processes share it).
    # media_fetch_max=0: a sync fetches no thumbnails here (recorded items name real hosts and
    # no test leaves loopback); tests/test_media.py turns it on against the fake upstream.
    return Settings(database_url=db_url, data_dir=tmp_path, secret_key=TEST_SECRET_KEY,
                    media_fetch_max=0)


# --- the app ---------------------------------------------------------------------------------


@pytest.fixture
def client(settings: Settings, engine: sa.Engine):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from dailypapers.web.app import create_app

    with TestClient(create_app(settings, engine)) as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class QuickStopServer(uvicorn.Server):
    """uvicorn's Server stopping within ~10 ms of ``should_exit`` rather than ~0.2 s: uvicorn
    looks at it every 0.1 s, then sleeps a fixed 0.1 s before waiting for connections and tasks
    (polled every 0.1 s), and the suite stops a live server several hundred times. It waits for
    the same things, in the same order (uvicorn 0.x's ``Server.shutdown``), polling finer."""

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            await asyncio.sleep(0.01)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        state = self.server_state
        while (state.connections or state.tasks) and not self.force_exit:
            await asyncio.sleep(0.005)
        for server in self.servers:
            await server.wait_closed()
        if not self.force_exit:
            await self.lifespan.shutdown()


class LiveServer:
    """uvicorn serving an app on a loopback port, in a thread."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = QuickStopServer(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("live server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def live_server(settings: Settings, engine: sa.Engine) -> Iterator[LiveServer]:
    from dailypapers.web.app import create_app

    with LiveServer(create_app(settings, engine)) as server:
        yield server


# --- optional extras: skips that cannot hide ---------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:  # type: ignore[type-arg]
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    marker = item.get_closest_marker("optional")
    if marker is not None:
        report.optional_extra = ", ".join(map(str, marker.args)) or "an optional extra"
    elif IN_CI and report.skipped and isinstance(report.longrepr, tuple) \
            and "could not import" in str(report.longrepr[-1]):
        report.outcome = "failed"
        report.longrepr = (f"CI=true: skipped for a missing dependency without "
                           f"@pytest.mark.optional: {report.longrepr[-1]}")


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    stats = terminalreporter.stats

    def optional(kind: str) -> list:  # type: ignore[type-arg]
        return [r for r in stats.get(kind, []) if getattr(r, "optional_extra", None)]

    ran = {r.nodeid for kind in ("passed", "failed") for r in optional(kind) if r.when == "call"}
    skipped = {r.nodeid: r.optional_extra for r in optional("skipped")}
    if not ran and not skipped:
        return
    line = f"optional extras: {len(ran)} ran, {len(skipped)} skipped"
    if skipped:
        line += " (" + "; ".join(f"{n} needs {extra}" for n, extra in skipped.items()) + ")"
    terminalreporter.write_line(("CI: " if IN_CI else "") + line)


# --- chromium: one for the browser tests that run one after another (tests/chromium.py) --------
from tests.chromium import browser, pytest_runtest_teardown  # noqa: E402,F401
