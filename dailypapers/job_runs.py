"""Scheduled slots as rows: each (job, slot) claimed once, run under a lease, finished once.

The life of a row in ``job_slots``:
- **claimed**: the first process to insert (job, slot) owns the slot (the primary key makes the
  others' inserts do nothing), with ``lease_until`` = now + DAILYPAPERS_JOB_LEASE_SECONDS;
- **started**: a runner takes the slot if it is not finished and no live attempt holds it (never
  started, or its lease ran out: the runner died); ``attempts`` + 1, ``runner`` = host:pid, and
  a thread renews the lease every third of it while the job runs;
- **finished**: ``finished_at`` and ``outcome`` ``ok``, or ``failed`` once the queue's retries are
  spent. A failed attempt with retries left releases the lease (``outcome`` ``failed``,
  ``finished_at`` empty) so the retry may start at once; so does a stopped one (``stopped``:
  SIGTERM came first), and one whose runner died is marked ``lost`` when it is enqueued again.
A slot that is neither finished nor held past its lease (its runner died, or the queue was down
when it was enqueued) is enqueued again by the scheduler (:func:`take_expired`): a slot counts as
done only when its job finished, so an outage delays a job and never drops it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from dailypapers.db.engine import db_now, read_transaction, write_transaction
from dailypapers.db.schema import job_slots

log = logging.getLogger("dailypapers.jobs")

KEEP_DAYS = 30  # finished slots older than this are pruned by the scheduler


def slot_key(slot: dt.datetime) -> str:
    return slot.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds")


def runner_name() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}"


def _this(job: str, key: str) -> Any:
    return sa.and_(job_slots.c.job == job, job_slots.c.slot == key)


def claim_slot(engine: Engine, job: str, slot: dt.datetime, lease_seconds: float) -> bool:
    """True for the first process to claim ``(job, slot)``."""
    with write_transaction(engine, changes=None) as conn:
        now = db_now(conn)
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        claimed = conn.execute(dialect.insert(job_slots).values(
            job=job, slot=slot_key(slot), claimed_at=now,
            lease_until=now + dt.timedelta(seconds=lease_seconds),
        ).on_conflict_do_nothing().returning(job_slots.c.job))
        return claimed.first() is not None


def start(engine: Engine, job: str, key: str, lease_seconds: float) -> bool:
    """Take the slot for one attempt; False when it is finished or a live attempt holds it."""
    with write_transaction(engine, changes=None) as conn:
        now = db_now(conn)
        taken = conn.execute(job_slots.update().where(
            _this(job, key), job_slots.c.finished_at.is_(None),
            sa.or_(job_slots.c.started_at.is_(None), job_slots.c.outcome.is_not(None),
                   job_slots.c.lease_until.is_(None), job_slots.c.lease_until <= now),
        ).values(started_at=now, outcome=None, error=None, runner=runner_name(),
                 attempts=job_slots.c.attempts + 1,
                 lease_until=now + dt.timedelta(seconds=lease_seconds)))
        return taken.rowcount == 1


def renew(engine: Engine, job: str, key: str, lease_seconds: float) -> None:
    with write_transaction(engine, changes=None) as conn:
        now = db_now(conn)
        conn.execute(job_slots.update().where(
            _this(job, key), job_slots.c.finished_at.is_(None), job_slots.c.outcome.is_(None),
            job_slots.c.runner == runner_name(),
        ).values(lease_until=now + dt.timedelta(seconds=lease_seconds)))


def finish(engine: Engine, job: str, key: str, outcome: str, error: str | None = None, *,
           done: bool = True) -> None:
    """Record an attempt's end; ``done=False`` (a failure the queue will retry) leaves the slot
    open and its lease released."""
    with write_transaction(engine, changes=None) as conn:
        now = db_now(conn)
        conn.execute(job_slots.update().where(_this(job, key)).values(
            outcome=outcome, error=error, finished_at=now if done else None,
            lease_until=None if done else now))


def release(engine: Engine, job: str, key: str, outcome: str | None = None) -> None:
    """Give an unfinished slot back at once (its attempt stopped: ``outcome`` "stopped"; or it
    could not be queued): the scheduler enqueues it again on its next round."""
    values: dict[str, Any] = {"outcome": outcome} if outcome else {}
    with write_transaction(engine, changes=None) as conn:
        conn.execute(job_slots.update().where(_this(job, key), job_slots.c.finished_at.is_(None))
                     .values(lease_until=db_now(conn), **values))


def take_expired(engine: Engine, lease_seconds: float, limit: int = 100) -> list[tuple[str, str]]:
    """Unfinished slots whose lease ran out, each now leased to the caller (of several
    schedulers, one takes each): the ones to enqueue again."""
    with read_transaction(engine) as conn:
        now = db_now(conn)
        rows = conn.execute(sa.select(job_slots.c.job, job_slots.c.slot).where(
            job_slots.c.finished_at.is_(None), job_slots.c.lease_until <= now,
        ).order_by(job_slots.c.slot).limit(limit)).all()
    taken: list[tuple[str, str]] = []
    for job, key in rows:
        with write_transaction(engine, changes=None) as conn:
            now = db_now(conn)
            # An attempt that started and neither ended nor renewed its lease died: "lost", so
            # the new message may start although the scheduler now holds the lease.
            won = conn.execute(job_slots.update().where(
                _this(job, key), job_slots.c.finished_at.is_(None),
                job_slots.c.lease_until <= now,
            ).values(lease_until=now + dt.timedelta(seconds=lease_seconds),
                     outcome=sa.case((sa.and_(job_slots.c.started_at.is_not(None),
                                              job_slots.c.outcome.is_(None)), "lost"),
                                     else_=job_slots.c.outcome)))
            if won.rowcount == 1:
                taken.append((job, key))
    return taken


def prune(engine: Engine, days: int = KEEP_DAYS) -> int:
    with write_transaction(engine, changes=None) as conn:
        cutoff = db_now(conn) - dt.timedelta(days=days)
        return conn.execute(job_slots.delete().where(job_slots.c.finished_at < cutoff)).rowcount


class Renewal:
    """Renews a slot's lease every third of it while the job runs (a context manager)."""

    def __init__(self, engine: Engine, job: str, key: str, lease_seconds: float) -> None:
        self.engine, self.job, self.key, self.lease = engine, job, key, lease_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dailypapers-lease", daemon=True)

    def __enter__(self) -> Renewal:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.wait(self.lease / 3):
            try:
                renew(self.engine, self.job, self.key, self.lease)
            except Exception:  # the database is away: the next renewal tries again
                log.warning("renewing the lease of %s %s failed", self.job, self.key)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__)[:500]


# --- what `dailypapers jobs` and /admin/jobs show ------------------------------------------------


@dataclass
class JobSummary:
    job: str
    queued: int  # claimed, not finished, no live attempt
    running: int
    failed: int  # slots whose latest attempt failed
    finished: int
    last_started: dt.datetime | None = None
    last_finished: dt.datetime | None = None
    last_outcome: str | None = None  # ok | failed | lost | stopped | running | None
    last_error: str | None = None
    last_slot: str | None = None
    last_runner: str | None = None


def summaries(conn: Connection, jobs: list[str] | None = None) -> list[JobSummary]:
    """Per job (the ones named first, then any other in the table): counts and the last run."""
    now = db_now(conn)
    c = job_slots.c
    live = sa.and_(c.finished_at.is_(None), c.outcome.is_(None), c.started_at.is_not(None),
                   c.lease_until > now)
    # Waiting for a worker: never started, or its attempt was lost or stopped (a failed one
    # waiting for its retry counts as failed).
    open_ = sa.and_(c.finished_at.is_(None), sa.func.coalesce(c.outcome, "") != "failed")

    def count(condition: Any) -> Any:
        return sa.func.sum(sa.case((condition, 1), else_=0))

    rows = conn.execute(sa.select(
        c.job, count(sa.and_(open_, ~live)), count(live), count(c.outcome == "failed"),
        count(c.finished_at.is_not(None)),
    ).group_by(c.job)).all()
    counts = {r[0]: tuple(int(v or 0) for v in r[1:]) for r in rows}
    names = list(jobs or []) + sorted(set(counts) - set(jobs or []))
    out = []
    for name in names:
        queued, running, failed, finished = counts.get(name, (0, 0, 0, 0))
        summary = JobSummary(name, queued, running, failed, finished)
        last = conn.execute(sa.select(job_slots).where(c.job == name, c.started_at.is_not(None))
                            .order_by(c.started_at.desc()).limit(1)).first()
        if last is not None:
            summary.last_started, summary.last_finished = last.started_at, last.finished_at
            summary.last_slot, summary.last_runner = last.slot, last.runner
            summary.last_outcome = last.outcome or "running"
            summary.last_error = last.error
        out.append(summary)
    return out
