"""`dailypapers import` SIGKILLed mid-run (a real process, as `test_reindex_crash.py` kills
`reindex`): its parsing child dies with it, the run shows as interrupted, and the next import
says it resumes it and ends with exactly the rows of an import never interrupted. SQLite and
PostgreSQL (where the child must not keep the killed import's connection open either)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from dailypapers.db.engine import make_engine, read_transaction
from dailypapers.db.migrate import upgrade
from dailypapers.db.schema import ingest_runs, papers
from dailypapers.ingest.files import import_paths
from tests.conftest import REPO, shared

PAGES = 6  # 6,000 records: long enough to be killed mid-way with small batches


def proc_stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time in ticks) of a live process, None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(fields[1]), fields[0].decode(), int(fields[19])


def children_of(pid: int) -> dict[int, int]:
    """Child pid → start time, read from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = proc_stat(int(entry.name))
            if stat and stat[0] == pid:
                found[int(entry.name)] = stat[2]
    return found


def still_running(pid: int, started: int) -> bool:
    stat = proc_stat(pid)
    return stat is not None and stat[2] == started and stat[1] not in ("Z", "X")


def rows(engine: sa.Engine) -> list[tuple]:
    with read_transaction(engine) as conn:
        return [tuple(r) for r in conn.execute(sa.select(
            papers.c.id, papers.c.version, papers.c.title, papers.c.abstract, papers.c.authors,
            papers.c.categories, papers.c.submitted_at, papers.c.updated_at, papers.c.doi,
            papers.c.bib_source, papers.c.sources,
        ).order_by(papers.c.id))]


KILLED = "dp_killed_import"  # the killed import's application_name on PostgreSQL


def backends_of_killed_import(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"
        ), {"name": KILLED}).scalar_one()


def test_killed_import_leaves_no_child_and_the_next_import_resumes(db_url, tmp_path):
    pages = [str(shared("arxiv", "oai-pmh-cs-2016", f"listrecords-{n:03d}.xml.gz"))
             for n in range(1, PAGES + 1)]
    env = {**os.environ, "DAILYPAPERS_DATABASE_URL": db_url, "DAILYPAPERS_DATA_DIR": str(tmp_path),
           "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "dailypapers"]
    engine = make_engine(db_url)

    named = sa.engine.make_url(db_url)
    if named.get_backend_name() == "postgresql":
        named = named.update_query_dict({"application_name": KILLED})
    importer = subprocess.Popen(
        [*command, "import", "--batch-size", "50", *pages],
        env={**env, "DAILYPAPERS_DATABASE_URL": named.render_as_string(hide_password=False)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    try:
        while True:
            assert importer.poll() is None, "the import finished before it could be killed"
            assert time.monotonic() < deadline
            with read_transaction(engine) as conn:
                stored = conn.execute(sa.select(sa.func.sum(ingest_runs.c.inserted))).scalar() or 0
            children = children_of(importer.pid)
            seen = engine.dialect.name != "postgresql" or backends_of_killed_import(engine)
            if stored >= 300 and children and seen:  # seen: the check below can see it
                break
            time.sleep(0.01)
        importer.send_signal(signal.SIGKILL)
    finally:
        importer.wait(10)
    assert importer.returncode == -signal.SIGKILL

    # The parsing child went with its parent.
    deadline = time.monotonic() + 10
    while any(still_running(pid, start) for pid, start in children.items()):
        assert time.monotonic() < deadline, f"parse child left running: {children}"
        time.sleep(0.05)
    if engine.dialect.name == "postgresql":  # and nothing holds the killed import's connection
        deadline = time.monotonic() + 10
        while backends_of_killed_import(engine):
            assert time.monotonic() < deadline, "a connection of the killed import stays open"
            time.sleep(0.1)

    with read_transaction(engine) as conn:
        (run,) = conn.execute(sa.select(ingest_runs)).mappings().all()
        stored = conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar_one()
    assert run["status"] == "running" and 0 < stored < PAGES * 1000  # killed mid-run

    status = subprocess.run([*command, "status"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert status.returncode == 0, status.stderr
    (line,) = [ln for ln in status.stdout.splitlines() if ln.strip().startswith("import ")]
    assert line.split()[1] == "interrupted", status.stdout
    assert f"pid {importer.pid}" in line and "is gone" in line

    again = subprocess.run([*command, "import", *pages], env=env, capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"Resuming interrupted run {run['id']} (started " in again.stdout
    assert "Traceback" not in again.stdout + again.stderr

    reference = make_engine(f"sqlite:///{tmp_path / 'reference.sqlite3'}")
    upgrade(reference)
    import_paths(reference, pages)
    expected = rows(reference)
    assert len(expected) == PAGES * 1000
    assert rows(engine) == expected
    with read_transaction(engine) as conn:
        statuses = conn.execute(sa.select(ingest_runs.c.status).order_by(ingest_runs.c.id)).all()
    assert [s for (s,) in statuses] == ["interrupted", "ok"]
    reference.dispose()
    engine.dispose()
