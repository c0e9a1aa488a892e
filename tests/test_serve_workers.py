"""Several processes on one database, as `serve --workers N` and a deploy run them, with real
processes on PostgreSQL (and SQLite where it applies):

- two processes migrating one fresh database at once both succeed, the schema at head;
- `serve --workers 2` runs the sync once (not once per web process) and embeds in the supervisor;
- two web processes serving while papers are imported both find each new paper by keyword within
  seconds, and the shared keyword folder holds each paper once;
- `serve` refuses pools that could exceed PostgreSQL's max_connections, in one line;
- SIGTERM lets a request in flight finish;
- the supervisor runs the jobs thread, and the embedding unless DAILYPAPERS_EMBED_IN_BACKGROUND
  is false, and stops them with the server.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from dailypapers.db.engine import make_engine, read_transaction
from dailypapers.db.migrate import current_revision, head_revision
from dailypapers.db.schema import ingest_runs, metadata, paper_embeddings
from dailypapers.index.keyword import KeywordIndex
from dailypapers.index.keyword_store import keyword_dir
from dailypapers.ingest.files import import_paths
from dailypapers.serving import check_connection_budget
from dailypapers.settings import Settings
from tests.conftest import PG_ADMIN_URL, REPO
from tests.fake_upstream import ATOM_PATH, FakeUpstream
from tests.helpers import hf_item, paper_ids, write_json
from tests.serve_helpers import ServeProcess, serve_env
from tests.test_cli import Cli, data_dir  # noqa: F401 - fixture
from tests.test_db_pool import pg_url  # noqa: F401 - fixture: PostgreSQL only, emptied
from tests.test_serve import upstream_dir  # noqa: F401 - fixture


def count(engine: sa.Engine, query: sa.Select) -> int:  # type: ignore[type-arg]
    with read_transaction(engine) as conn:
        return conn.execute(query).scalar_one()


# --- migrations: one at a time ----------------------------------------------------------------

MIGRATE_WHEN_TOLD = """
import sys, time
from pathlib import Path
from dailypapers.db.engine import make_engine
from dailypapers.db.migrate import upgrade
engine = make_engine(sys.argv[1])
Path(sys.argv[2]).touch()  # imported and connected: ready
while not Path(sys.argv[3]).exists():
    time.sleep(0.001)
upgrade(engine)
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    request.getfixturevalue("postgres_url")  # skips (or fails under CI) without a server
    name = f"dailypapers_fresh_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(
        hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def test_two_processes_migrating_one_fresh_database_at_once_both_succeed(
        fresh_url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(2)]
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    migrators = [subprocess.Popen([sys.executable, "-c", MIGRATE_WHEN_TOLD, fresh_url,
                                   str(flag), str(go)], env=env, stderr=subprocess.PIPE)
                 for flag in ready]
    deadline = time.monotonic() + 60
    while not all(flag.exists() for flag in ready):
        assert time.monotonic() < deadline, "the migrating processes did not start"
        time.sleep(0.01)
    go.touch()  # both start migrating within a millisecond of each other

    errors = [p.communicate(timeout=120)[1].decode() for p in migrators]

    assert [p.returncode for p in migrators] == [0, 0], errors
    engine = make_engine(fresh_url)
    try:
        assert current_revision(engine) == head_revision()
        assert set(sa.inspect(engine).get_table_names()) >= {t.name for t in metadata.sorted_tables}
    finally:
        engine.dispose()


# --- jobs run once ----------------------------------------------------------------------------


def test_serve_workers_syncs_once_and_embeds_in_the_supervisor(
        pg_url: str, tmp_path: Path, upstream_dir: tuple[Path, dict[str, list[str]]],  # noqa: F811
) -> None:
    root, days = upstream_dir
    expected = {pid for ids in days.values() for pid in ids}
    engine = make_engine(pg_url)
    sync_runs = sa.select(sa.func.count()).select_from(ingest_runs).where(
        ingest_runs.c.source.like("sync:%"))
    with FakeUpstream(root, atom_files=[], oai_pages=0) as fake:
        env = serve_env(pg_url, tmp_path / "data", hf_base_url=fake.url,
                        arxiv_api_url=fake.url + ATOM_PATH, arxiv_method="api",
                        sync_min_interval_seconds=0, sync_timeout_seconds=5,
                        index_interval_seconds=0.5)
        with ServeProcess(env, "--workers", "2", log=tmp_path / "serve.log") as server:
            deadline = time.monotonic() + 60
            while count(engine, sa.select(sa.func.count()).select_from(paper_embeddings)) \
                    < len(expected):
                assert time.monotonic() < deadline, "not synced and embedded:\n" \
                    + server.output()
                time.sleep(0.2)
            # Each process with a scheduler would have started its sync by now (5 s after
            # start, all within the same second): give any other one time to record its runs.
            time.sleep(3)
            runs = count(engine, sync_runs)
            sources = count(engine, sa.select(sa.func.count(ingest_runs.c.source.distinct()))
                            .where(ingest_runs.c.source.like("sync:%")))
            asked = fake.hf_dates()
            landed = paper_ids(engine)
            answered = httpx.get(server.url + "/api/daily_papers?limit=100").json()
    engine.dispose()

    assert landed == expected
    assert {item["paper"]["id"] for item in answered} == expected
    assert sources == 2 and runs == sources  # sync:hf and sync:arxiv, one run each
    assert set(days) <= set(asked)
    assert len(asked) == len(set(asked)), asked  # each day asked for once: one process synced
    assert "Serving" in server.output() and "with 2 web processes" in server.output()
    # Rate limits counted in memory would be counted per process: said at start.
    assert "DAILYPAPERS_RATELIMIT_STORAGE is memory://" in server.output()


# --- the shared keyword index ------------------------------------------------------------------

WORDS = ["quorvexa", "blintzory", "zephqualm", "gromwhistle", "trunkavel", "plimsorrow"]


def test_two_web_processes_both_find_each_imported_paper_by_keyword(
        pg_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = serve_env(pg_url, data, embed_in_background="false", index_interval_seconds=0.5)
    engine = make_engine(pg_url)
    waits = []
    with ServeProcess(env, "--no-sync", log=tmp_path / "one.log") as one, \
            ServeProcess(env, "--no-sync", log=tmp_path / "two.log") as two:
        servers = [one, two]
        for batch in range(3):  # imported while both serve, two papers at a time
            new = {f"2611.{80000 + batch * 2 + i:05d}": WORDS[batch * 2 + i] for i in range(2)}
            write_json(tmp_path / f"batch-{batch}.json", [
                hf_item(pid, title=f"On the {word} method", day="2026-03-02")
                for pid, word in new.items()])
            import_paths(engine, [tmp_path / f"batch-{batch}.json"], parse_ahead=False)
            imported = time.monotonic()
            for pid, word in new.items():
                for server in servers:
                    while _keyword_hits(server, word) != [pid]:
                        assert time.monotonic() - imported < 10, (word, server.url)
                        time.sleep(0.05)
                    waits.append(time.monotonic() - imported)
        # Afterwards every word finds its one paper in both processes ...
        for server in servers:
            found = {word: _keyword_hits(server, word) for word in WORDS}
            assert all(len(hits) == 1 for hits in found.values()), found
            assert sorted(hits[0] for hits in found.values()) == sorted(paper_ids(engine))
    engine.dispose()
    # ... and the one folder both updated holds each paper once.
    index = KeywordIndex.open(keyword_dir(data))
    assert index.num_docs == len(WORDS)
    print(f"keyword: found in both processes {max(waits):.1f} s after the import at most")


def _keyword_hits(server: ServeProcess, word: str) -> list[str]:
    answer = httpx.get(server.url + "/api/v1/search", params={"q": word, "mode": "keyword"},
                       timeout=10)
    assert answer.status_code == 200, answer.text
    return [hit["paper"]["id"] for hit in answer.json()["data"]]


# --- the connection budget ----------------------------------------------------------------------


def test_serve_refuses_pools_past_max_connections_in_one_line(
        pg_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        limit = int(conn.exec_driver_sql("SHOW max_connections").scalar_one())
        reserved = int(conn.exec_driver_sql("SHOW superuser_reserved_connections").scalar_one())
    # Three processes (two web processes and the supervisor), each with its pool and the
    # cache's version listener, fit exactly at this size ...
    fits = (limit - reserved) // 3
    check_connection_budget(engine, Settings(db_pool_size=fits - 2, db_max_overflow=1), 3)
    # ... and not with one connection more each.
    monkeypatch.setenv("DAILYPAPERS_DATABASE_URL", pg_url)
    monkeypatch.setenv("DAILYPAPERS_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("DAILYPAPERS_DB_POOL_SIZE", str(fits - 1))
    monkeypatch.setenv("DAILYPAPERS_DB_MAX_OVERFLOW", "1")
    refused = Cli(monkeypatch)("serve", "--workers", "2", "--port", "0")
    assert refused.exit_code == 1
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith("Error: DAILYPAPERS_DB_POOL_SIZE + DAILYPAPERS_DB_MAX_OVERFLOW"), line
    assert f"{limit} max_connections" in line and "Serving" not in refused.stdout
    # SQLite has no pool to count.
    sqlite = make_engine(f"sqlite:///{data_dir / 'x.sqlite3'}")
    check_connection_budget(sqlite, Settings(db_pool_size=1000, db_max_overflow=1000), 64)
    sqlite.dispose()
    engine.dispose()


# --- SIGTERM ----------------------------------------------------------------------------------


def test_sigterm_lets_a_request_in_flight_finish(pg_url: str, tmp_path: Path) -> None:
    """A request held up in the database (a table lock taken here) when the supervisor gets
    SIGTERM still gets its 200 once the lock goes, then every process exits."""
    engine = make_engine(pg_url)
    write_json(tmp_path / "day.json", [hf_item("2603.00001", title="Held up", day="2026-03-02")])
    import_paths(engine, [tmp_path / "day.json"], parse_ahead=False)
    env = serve_env(pg_url, tmp_path / "data", embed_in_background="false")
    answers: list[httpx.Response] = []
    with ServeProcess(env, "--workers", "2", "--no-sync", log=tmp_path / "serve.log") as server:
        with engine.connect() as locker, engine.connect() as watcher:
            locker.exec_driver_sql("LOCK TABLE papers IN ACCESS EXCLUSIVE MODE")
            reader = threading.Thread(target=lambda: answers.append(
                httpx.get(server.url + "/api/daily_papers?date=2026-03-02", timeout=30)))
            reader.start()
            deadline = time.monotonic() + 20
            # (pg_stat_activity is a snapshot per transaction: a new one each look)
            while not watcher.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query ILIKE '%%papers%%'").scalar_one():
                watcher.rollback()
                assert time.monotonic() < deadline, "the request never reached the database"
                time.sleep(0.05)
            time.sleep(0.5)  # (should that waiter have been a job of the supervisor's)
            server.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
            time.sleep(1)
            locker.rollback()  # the lock goes: the request goes on
        reader.join(30)
        code = server.process.wait(30)  # type: ignore[union-attr]
    engine.dispose()
    (answer,) = answers
    assert answer.status_code == 200
    assert [item["paper"]["id"] for item in answer.json()] == ["2603.00001"]
    assert code == 0


# --- what the supervisor runs -------------------------------------------------------------------


@pytest.mark.parametrize(("embed", "threads"), [
    ("true", ["dailypapers-embed", "dailypapers-jobs"]), ("false", ["dailypapers-jobs"])])
def test_the_supervisor_runs_the_jobs_and_embeds_as_the_setting_says(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch, embed: str,  # noqa: F811
        threads: list[str]) -> None:
    """uvicorn's supervisor loop is replaced by a recorder (it would serve until a signal): what
    runs beside it, and what it was told to start."""
    from uvicorn.supervisors import Multiprocess

    seen: list[tuple[int, str, bool, list[str]]] = []
    monkeypatch.setattr(Multiprocess, "run", lambda self: seen.append((
        self.processes_num, self.config.app, self.config.factory,
        sorted(t.name for t in threading.enumerate() if t.name.startswith("dailypapers-")))))
    monkeypatch.setenv("DAILYPAPERS_EMBED_IN_BACKGROUND", embed)

    result = Cli(monkeypatch)("serve", "--workers", "3", "--port", "0", "--no-demo")

    assert result.exit_code == 0, result.output
    assert seen == [(3, "dailypapers.serving:worker_app", True, threads)]
    # ... and stopped with it.
    assert not [t.name for t in threading.enumerate() if t.name.startswith("dailypapers-")]
