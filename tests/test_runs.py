"""Which `running` runs are really running: this host's by their process, other hosts' by
their heartbeat; the next run of a source marks the dead ones interrupted (imports and syncs)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess

import sqlalchemy as sa

from dailypapers.db.engine import read_transaction, write_transaction
from dailypapers.db.schema import ingest_runs
from dailypapers.ingest.runs import RUN_STALE_SECONDS, shown_status, this_host
from dailypapers.ingest.service import start_run
from dailypapers.status import gather_status



def now() -> dt.datetime:
    # Read per call, not at import: in a long suite the module may run many minutes later, and
    # a heartbeat dated at import would look stale.
    return dt.datetime.now(dt.timezone.utc)


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def add_run(engine: sa.Engine, source: str, **values) -> int:  # type: ignore[no-untyped-def]
    row = {"source": source, "status": "running", "started_at": now(),
           "host": this_host(), "pid": os.getpid(), "heartbeat_at": now(), **values}
    with write_transaction(engine) as conn:
        return int(conn.execute(ingest_runs.insert().values(**row)).inserted_primary_key[0])


def statuses(engine: sa.Engine) -> dict[int, tuple[str, str]]:
    """Run id → (stored status, status as shown)."""
    with read_transaction(engine) as conn:
        return {r["id"]: (r["status"], shown_status(r))
                for r in conn.execute(sa.select(ingest_runs)).mappings()}


def test_liveness_of_running_runs_and_their_closing_by_the_next_run(engine):
    stale = now() - dt.timedelta(seconds=RUN_STALE_SECONDS + 60)
    live = add_run(engine, "sync:hf")  # this very process
    dead = add_run(engine, "sync:hf", pid=dead_pid())
    reused = add_run(engine, "sync:hf", started_at=now() - dt.timedelta(days=400))  # pid reborn
    far_live = add_run(engine, "sync:hf", host="elsewhere.example", pid=1)
    far_silent = add_run(engine, "sync:hf", host="elsewhere.example", pid=1, heartbeat_at=stale)
    legacy = add_run(engine, "sync:hf", host=None, pid=None, heartbeat_at=None, started_at=stale)
    other_source = add_run(engine, "import", pid=dead_pid())
    finished = add_run(engine, "sync:hf", pid=dead_pid(), status="ok")

    gone = {dead, reused, far_silent, legacy}
    assert {i for i, (_, shown) in statuses(engine).items() if shown == "interrupted"} == (
        gone | {other_source})
    with read_transaction(engine) as conn:
        lines = gather_status(conn)
    (import_line,) = [ln for ln in lines if ln.strip().startswith("import ")]
    assert import_line.split()[1] == "interrupted" and "the next import resumes it" in import_line

    with write_transaction(engine) as conn:
        new = start_run(conn, "sync:hf", detail="test")

    after = statuses(engine)
    assert {i for i, (stored, _) in after.items() if stored == "interrupted"} == gone
    assert after[live] == after[far_live] == after[new] == ("running", "running")
    assert after[other_source] == ("running", "interrupted")  # only the same source is closed
    assert after[finished] == ("ok", "ok")
    with read_transaction(engine) as conn:
        row = conn.execute(sa.select(ingest_runs).where(ingest_runs.c.id == new)).mappings().one()
        closed = conn.execute(sa.select(ingest_runs).where(ingest_runs.c.id == dead)).mappings().one()
    assert (row["pid"], row["host"]) == (os.getpid(), this_host()) and row["heartbeat_at"]
    assert closed["finished_at"] is not None and "is gone" in closed["error"]
