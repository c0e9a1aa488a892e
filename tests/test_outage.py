"""A database outage under `serve --workers 2`: a throwaway PostgreSQL cluster (Debian's initdb and
pg_ctl, from `pg_config --bindir`, as the postgres user since initdb refuses root) on a free port
is stopped for 10 s while clients read pages and the API, then started again.

Every answer is a 200, or a 503 with Retry-After within the connect timeout (never a 500, never a
hang); all are 200 again within 5 s of the restart, and the server was never restarted. One test,
slow by nature (~40 s): it prints its counts."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dailypapers.db.engine import make_engine
from dailypapers.db.migrate import upgrade
from dailypapers.ingest.files import import_paths
from tests.conftest import IN_CI, free_port
from tests.helpers import hf_item, write_json
from tests.serve_helpers import ServeProcess, serve_env

OUTAGE_SECONDS = 10
BACK_WITHIN_SECONDS = 5
CONNECT_TIMEOUT = 5  # DAILYPAPERS_DB_CONNECT_TIMEOUT_SECONDS' default
PAPER = "2603.00001"
PATHS = ["/papers", f"/papers/{PAPER}", "/api/daily_papers", f"/api/papers/{PAPER}",
         "/api/v1/search?q=outage", "/search?q=outage"]


class Cluster:
    """A PostgreSQL cluster of its own in a temporary folder owned by postgres."""

    def __init__(self) -> None:
        found = shutil.which("pg_config")
        bindir = subprocess.run([found, "--bindir"], capture_output=True, text=True,
                                check=True).stdout.strip() if found else ""
        if not bindir or not Path(bindir, "initdb").exists():
            reason = "no initdb (Debian: apt-get install postgresql)"
            if IN_CI:
                pytest.fail(reason + " (CI=true: the outage test must run)")
            pytest.skip(reason)
        self.bin = Path(bindir)
        self.root = Path(tempfile.mkdtemp(prefix="dailypapers-outage-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/dailypapers"
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "start",
                  "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                  "-c fsync=off -c full_page_writes=off")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    pg = Cluster()
    try:
        pg.init()
        pg.start()
        admin = make_engine(pg.url.rsplit("/", 1)[0] + "/postgres").execution_options(
            isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql("CREATE DATABASE dailypapers")
        admin.dispose()
        yield pg
    finally:
        pg.remove()


@dataclass
class Answer:
    path: str
    started: float
    seconds: float
    status: int  # 0: no answer at all (a timeout, a connection closed or refused)
    retry_after: str | None
    error: str = ""


def read_continuously(url: str, stop: threading.Event, answers: list[Answer], offset: int) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        i = offset
        while not stop.is_set():
            path = PATHS[i % len(PATHS)]
            i += 1
            started = time.monotonic()
            error = ""
            try:
                response = http.get(path)
                status, retry = response.status_code, response.headers.get("retry-after")
            except httpx.HTTPError as exc:
                status, retry, error = 0, None, repr(exc)
            answers.append(Answer(path, started, time.monotonic() - started, status, retry,
                                  error))
            time.sleep(0.02)


def test_a_ten_second_database_outage_costs_503s_not_the_server(
        cluster: Cluster, tmp_path: Path) -> None:
    engine = make_engine(cluster.url)
    upgrade(engine)
    write_json(tmp_path / "day.json", [
        hf_item(PAPER, title="Surviving an outage", day="2026-03-02"),
        hf_item("2603.00002", title="Another paper", day="2026-03-02")])
    import_paths(engine, [tmp_path / "day.json"], parse_ahead=False)
    engine.dispose()
    env = serve_env(cluster.url, tmp_path / "data", embed_in_background="false",
                    index_interval_seconds=1)
    answers: list[Answer] = []
    stop = threading.Event()
    with ServeProcess(env, "--workers", "2", "--no-sync", log=tmp_path / "serve.log") as server:
        clients = [threading.Thread(target=read_continuously,
                                    args=(server.url, stop, answers, i)) for i in range(4)]
        for client in clients:
            client.start()
        time.sleep(2)
        stopping = time.monotonic()
        cluster.stop()
        time.sleep(OUTAGE_SECONDS)
        cluster.start()
        restarted = time.monotonic()
        time.sleep(BACK_WITHIN_SECONDS + 3)
        stop.set()
        for client in clients:
            client.join(60)
        still_running = server.process.poll() is None  # type: ignore[union-attr]
        log = server.output()

    before = [a for a in answers if a.started + a.seconds < stopping]
    during = [a for a in answers if stopping <= a.started < restarted]
    late = [a for a in answers if a.started >= restarted + BACK_WITHIN_SECONDS]
    unavailable = [a for a in answers if a.status == 503]
    back = max((a.started + a.seconds - restarted for a in answers if a.status != 200),
               default=0.0)
    print(f"\noutage: {len(answers)} answers: {sum(a.status == 200 for a in answers)} x 200, "
          f"{len(unavailable)} x 503 (all with Retry-After), "
          f"{sum(a.status not in (200, 503) for a in answers)} other; "
          f"slowest {max(a.seconds for a in answers):.2f} s; last non-200 answer "
          f"{back:.2f} s after the restart; {len(late)} answers after that window, all 200")

    assert still_running, log
    assert {a.status for a in answers} <= {200, 503}, \
        ([(a.path, a.status, a.error) for a in answers if a.status not in (200, 503)], log[-3000:])
    # uvicorn's words for an error it met after the answer had gone (it then closes the client's
    # connection) or for a 500.
    assert "Exception in ASGI application" not in log, log[log.index("Exception in ASGI"):][:3000]
    assert all(a.retry_after == "5" for a in unavailable)
    assert max(a.seconds for a in answers) < CONNECT_TIMEOUT + 1
    assert before and all(a.status == 200 for a in before)
    assert sum(a.status == 503 for a in during) >= len(PATHS)  # the outage did bite
    assert {a.path for a in during if a.status == 503} == set(PATHS)
    assert len(late) >= 20 and all(a.status == 200 for a in late)
    assert back < BACK_WITHIN_SECONDS
    assert "died" not in log  # uvicorn's supervisor restarted no web process either
