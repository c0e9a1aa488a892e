"""`dailypapers demo` and `dailypapers serve`, through the real click group (the harness of
tests/test_cli.py), on SQLite and PostgreSQL.

``serve`` blocks in ``uvicorn.run``; here ``uvicorn.run`` is replaced by a recorder, so the
command runs its start-up decisions (migrate, demo or not, scheduler or not) and returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import dailypapers.cli as cli_module
from dailypapers.db.engine import make_engine, read_transaction
from dailypapers.db.migrate import current_revision
from dailypapers.db.schema import feature_days, ingest_runs, papers
from dailypapers.jobs import Scheduler
from tests.conftest import shared
from tests.helpers import paper_ids
from tests.test_cli import (  # noqa: F401 - fixtures
    HEAD, Cli, cli, count, data_dir, default_db, demo_ids, hf_31, hf_ids, run, snapshot,
)


# --- demo --------------------------------------------------------------------------------------


def test_demo_remove_deletes_exactly_the_demo_rows(
    cli: Cli, engine: sa.Engine, hf_31: Path
) -> None:
    old = shared("hf-daily", "2024-05-27.json")  # long before the demo's weeks
    assert hf_ids(hf_31) <= demo_ids() and not hf_ids(old) & demo_ids()
    assert cli("import", str(old), str(hf_31)).exit_code == 0
    before = snapshot(engine)

    loaded = cli("demo", "load")

    assert loaded.exit_code == 0, loaded.output
    match = re.fullmatch(r"Demo: (\d+) inserted, 0 updated, (\d+) unchanged\.\n", loaded.stdout)
    assert match, loaded.stdout
    inserted, unchanged = int(match[1]), int(match[2])
    assert unchanged == len(hf_ids(hf_31))  # already imported for real: left alone
    assert inserted == len(paper_ids(engine)) - len(before[0]) > 800
    assert count(engine, papers, papers.c.is_demo.is_(True)) == inserted
    assert paper_ids(engine) >= demo_ids() | {r[0] for r in before[0]}
    again = cli("demo", "load")
    assert again.stdout == f"Demo: 0 inserted, 0 updated, {inserted + unchanged} unchanged.\n"
    demo_features = count(engine, feature_days, feature_days.c.is_demo.is_(True))

    removed = cli("demo", "remove")

    assert removed.exit_code == 0, removed.output
    assert removed.stdout == (
        f"Removed {inserted} demo papers and {demo_features} demo feature days.\n"
        "Removed 0 votes, 0 comments and 0 collection entries on demo papers.\n"
    )
    assert snapshot(engine) == before
    assert count(engine, papers, papers.c.is_demo.is_(True)) == 0


def test_a_real_import_after_the_demo_keeps_its_papers_when_the_demo_goes(
    cli: Cli, engine: sa.Engine, hf_31: Path
) -> None:
    assert cli("demo", "load").exit_code == 0
    imported = cli("import", str(hf_31))
    assert imported.exit_code == 0, imported.output

    assert cli("demo", "remove").exit_code == 0

    assert paper_ids(engine) == hf_ids(hf_31)
    with read_transaction(engine) as conn:
        days = set(conn.execute(sa.select(feature_days.c.paper_id, feature_days.c.day)).all())
        demo_rows = conn.execute(sa.select(sa.func.count()).select_from(papers)
                                 .where(papers.c.is_demo.is_(True))).scalar()
    assert {(pid, d.isoformat()) for pid, d in days} == {(pid, "2026-03-31") for pid in hf_ids(hf_31)}
    assert demo_rows == 0


# --- serve -------------------------------------------------------------------------------------


@dataclass
class Served:
    calls: list[dict[str, Any]] = field(default_factory=list)
    apps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def schedulers(self) -> list[Scheduler]:
        """The schedulers handed to create_app that run the sync (``background`` is one job
        or a list; with --no-sync the scheduler runs only the digests)."""
        (built,) = self.apps
        jobs = built.get("background")
        jobs = [] if jobs is None else jobs if isinstance(jobs, (list, tuple)) else [jobs]
        return [job for job in jobs if isinstance(job, Scheduler) and "sync" in job.job_names]


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Served:
    """Record what `serve` hands to uvicorn and to create_app, instead of serving forever."""
    import uvicorn

    import dailypapers.web.app as app_module

    record = Served()
    real_create_app = app_module.create_app

    asked: list[tuple[str, int]] = []

    def bind_any_port(host: str, port: int) -> Any:
        """Note the address asked for, bind a free port (8000 may be taken on this machine)."""
        asked.append((host, port))
        return real_bind(host, 0)

    def fake_run(server: Any, sockets: list[Any]) -> None:
        (sock,) = sockets
        assert server.config.port == sock.getsockname()[1]  # uvicorn is told the bound port
        host, port = asked.pop()
        record.calls.append({"app": server.config.app, "host": host, "port": port})
        sock.close()

    def recording_create_app(*args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
        app = real_create_app(*args, **kwargs)
        record.apps.append({"app": app, "args": args, **kwargs})
        return app

    real_bind = cli_module.bind_socket
    monkeypatch.setattr(cli_module, "bind_socket", bind_any_port)
    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    monkeypatch.setattr(app_module, "create_app", recording_create_app)
    return record


def sqlite_engine(path: Path) -> sa.Engine:
    return make_engine(f"sqlite:///{path}")


@pytest.mark.parametrize("args", [["serve"], []], ids=["serve", "no-subcommand"])
def test_serve_loads_the_demo_into_an_empty_default_sqlite_database(
    run: Cli, data_dir: Path, served: Served, args: list[str]
) -> None:
    result = run(*args)

    assert result.exit_code == 0, result.output
    assert "Loading the bundled demo papers" in result.stdout
    engine = sqlite_engine(default_db(data_dir))
    try:
        assert current_revision(engine) == HEAD  # serve migrates
        assert paper_ids(engine) >= demo_ids()
        assert count(engine, papers) == count(engine, papers, papers.c.is_demo.is_(True))
    finally:
        engine.dispose()
    (call,) = served.calls
    assert (call["host"], call["port"]) == ("127.0.0.1", 8000)
    assert call["app"] is served.apps[0]["app"]
    (scheduler,) = served.schedulers
    assert scheduler.engine.url.database == str(default_db(data_dir).resolve())
    assert re.search(r"on http://127\.0\.0\.1:\d+/papers", result.stdout)


def test_serve_no_sync_starts_no_scheduler_and_honours_host_and_port(
    run: Cli, served: Served
) -> None:
    result = run("serve", "--no-sync", "--host", "0.0.0.0", "--port", "8123")

    assert result.exit_code == 0, result.output
    (call,) = served.calls
    assert (call["host"], call["port"]) == ("0.0.0.0", 8123)
    assert served.schedulers == []
    assert re.search(r"on http://0\.0\.0\.0:\d+/papers", result.stdout)


def test_serve_no_demo_leaves_an_empty_default_database_empty(
    run: Cli, data_dir: Path, served: Served
) -> None:
    result = run("serve", "--no-demo")

    assert result.exit_code == 0, result.output
    assert "Loading the bundled demo" not in result.stdout and "Demo:" not in result.stdout
    engine = sqlite_engine(default_db(data_dir))
    try:
        assert current_revision(engine) == HEAD
        assert count(engine, papers) == 0
    finally:
        engine.dispose()
    assert len(served.schedulers) == 1


def test_serve_adds_no_demo_to_a_default_database_that_has_papers(
    run: Cli, data_dir: Path, served: Served, hf_31: Path
) -> None:
    assert run("import", str(hf_31)).exit_code == 0

    result = run("serve", "--no-sync")

    assert result.exit_code == 0, result.output
    assert "Loading the bundled demo" not in result.stdout and "Demo:" not in result.stdout
    engine = sqlite_engine(default_db(data_dir))
    try:
        assert paper_ids(engine) == hf_ids(hf_31)
    finally:
        engine.dispose()


def test_serve_never_loads_the_demo_into_a_named_database_unasked(
    cli: Cli, engine: sa.Engine, served: Served, db_url: str
) -> None:
    """PostgreSQL (and an explicitly named SQLite file) is the operator's: empty stays empty."""
    result = cli("serve")

    assert result.exit_code == 0, result.output
    assert "Loading the bundled demo" not in result.stdout and "Demo:" not in result.stdout
    assert count(engine, papers) == 0
    assert count(engine, ingest_runs) == 0
    (scheduler,) = served.schedulers
    assert scheduler.engine.url.render_as_string(hide_password=False).split("://")[1] \
        == db_url.split("://")[1]


def test_serve_demo_loads_into_a_named_database_when_asked(
    cli: Cli, engine: sa.Engine, served: Served
) -> None:
    result = cli("serve", "--demo", "--no-sync")

    assert result.exit_code == 0, result.output
    assert "Loading the bundled demo papers" in result.stdout
    assert paper_ids(engine) >= demo_ids()
    assert served.schedulers == []
