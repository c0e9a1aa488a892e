"""Telling a run that is still going from one whose process is gone.

Every import and sync records the process that runs it (pid and host) and a heartbeat stamped
with each committed batch. A ``running`` run is *interrupted* when:

- it runs on this host and its process no longer exists (or the pid now belongs to a process
  started after the run, i.e. it was reused), or
- it runs on another host (or predates these columns) and its heartbeat is older than
  ``RUN_STALE_SECONDS``: we cannot look at another machine's processes.

``dailypapers status`` shows such runs as interrupted; the next run of the same source marks
them so (``close_interrupted_runs``) and says it is resuming them.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dailypapers.db.schema import ingest_runs

# A live run commits a batch at least every few seconds (a sync page waits at most ~3 minutes
# for an upstream: 5 tries of 30 s plus backoff); ten minutes of silence means it is gone.
RUN_STALE_SECONDS = 600
# Process start times read from /proc are exact to a clock tick, the boot time to the second.
_START_SLACK = dt.timedelta(seconds=2)


def this_host() -> str:
    return socket.gethostname()[:255]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _aware(stamp: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; every stamp we write is UTC."""
    return stamp.replace(tzinfo=dt.timezone.utc) if stamp.tzinfo is None else stamp


def process_gone(run: Mapping[str, Any], now: dt.datetime | None = None) -> bool:
    """Whether a ``running`` run's process has gone away (False for finished runs)."""
    if run["status"] != "running":
        return False
    pid, host = run.get("pid"), run.get("host")
    if pid and host == this_host():
        return not _process_alive(int(pid), _aware(run["started_at"]))
    stamp = run.get("heartbeat_at") or run["started_at"]
    return (now or utcnow()) - _aware(stamp) > dt.timedelta(seconds=RUN_STALE_SECONDS)


def shown_status(run: Mapping[str, Any], now: dt.datetime | None = None) -> str:
    return "interrupted" if process_gone(run, now) else str(run["status"])


def describe_gone(run: Mapping[str, Any]) -> str:
    if run.get("pid") and run.get("host"):
        return f"its process (pid {run['pid']} on {run['host']}) is gone"
    return f"no sign of life for more than {RUN_STALE_SECONDS // 60} minutes"


def close_interrupted_runs(conn: Connection, source: str) -> list[dict[str, Any]]:
    """Mark the ``running`` runs of ``source`` whose process is gone as interrupted; return them
    (oldest first) as they were."""
    now = utcnow()
    rows = conn.execute(
        sa.select(ingest_runs)
        .where(ingest_runs.c.source == source, ingest_runs.c.status == "running")
        .order_by(ingest_runs.c.id)
    ).mappings().all()
    gone = [dict(r) for r in rows if process_gone(r, now)]
    for run in gone:
        conn.execute(
            ingest_runs.update()
            .where(ingest_runs.c.id == run["id"], ingest_runs.c.status == "running")
            .values(status="interrupted", finished_at=now,
                    error=f"interrupted: {describe_gone(run)}; a later run finished the job")
        )
    return gone


def _process_alive(pid: int, run_started: dt.datetime) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    stat = _proc_stat(pid)
    if stat is None:  # no /proc (not Linux): the pid exists, take it as ours
        return True
    state, started = stat
    if state in ("Z", "X"):  # killed, not yet reaped
        return False
    return started is None or started <= run_started + _START_SLACK


def _proc_stat(pid: int) -> tuple[str, dt.datetime | None] | None:
    """(state letter, start time) of a process from /proc, or None where there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except FileNotFoundError:
        return ("X", None) if os.path.isdir("/proc/self") else None
    except OSError:
        return None
    state = fields[0].decode()
    try:
        ticks = int(fields[19])  # field 22 of stat(5): start time in clock ticks after boot
        boot = _boot_time()
    except (IndexError, ValueError, OSError):
        return state, None
    if boot is None:
        return state, None
    return state, boot + dt.timedelta(seconds=ticks / os.sysconf("SC_CLK_TCK"))


def _boot_time() -> dt.datetime | None:
    with open("/proc/stat", "rb") as fh:
        for line in fh:
            if line.startswith(b"btime "):
                return dt.datetime.fromtimestamp(int(line.split()[1]), dt.timezone.utc)
    return None
