"""Background work in the embedded mode: one thread that runs a list of named jobs on schedules.

The jobs (:func:`scheduled_jobs`): the live sync every DAILYPAPERS_SYNC_INTERVAL_MINUTES (off with
``serve --no-sync``), the daily digest at DAILYPAPERS_DIGEST_TIME in DAILYPAPERS_DIGEST_TIMEZONE,
the weekly one on DAILYPAPERS_DIGEST_WEEKDAY at that time. A job is a plain function of
(settings, engine) that is safe to run twice — a digest already built is not built again, a mail
already sent is not sent again — so the thread runs every job once shortly after start (catching
up on a slot missed while the server was down) and worker processes may later run the same list:
each later slot of a clock job (the digests) is claimed in ``job_slots`` (UNIQUE (job, slot)),
so one process of several runs it, and its run is recorded there (job_runs.py). The sync is not
claimed on this thread (its times depend on when each run ended; its runs are recorded in
``ingest_runs``).

With DAILYPAPERS_QUEUE_URL set, ``serve`` runs none of this: ``dailypapers scheduler`` claims every
job's slots, the sync's too (its interval floored to slot boundaries, :func:`current_slot`), and
``dailypapers worker`` processes run them (queue.py).

A job that fails (an upstream down, a relay refusing) is logged and runs again at its next time;
the site keeps serving what it has.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from dailypapers import job_runs
from dailypapers.metrics import count_task_failure
from dailypapers.settings import WEEKDAYS, Settings

log = logging.getLogger("dailypapers.jobs")


class BackgroundThread:
    """A daemon thread with a stop event: started with the app, stopped with it."""

    thread_name = "dailypapers-job"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        # A short wait: the thread is a daemon, so exit does not wait for it anyway, and the
        # server should stop within seconds of SIGTERM (an embedding batch takes ~2 s).
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        raise NotImplementedError


# --- the jobs -------------------------------------------------------------------------------

RunJob = Callable[[Settings, Engine, threading.Event], Any]
NextTime = Callable[[Settings, dt.datetime], dt.datetime]  # the run after one at this time


@dataclass(frozen=True)
class Job:
    name: str
    run: RunJob
    next_time: NextTime
    # Claim each scheduled time in ``job_slots`` first: of several processes running this list,
    # one runs the slot. For jobs on a clock (the digests), whose times every process agrees on.
    claims_slots: bool = False
    # An interval job's period in seconds (the scheduler floors time to its multiples).
    every: Callable[[Settings], float] | None = None
    # ``run`` takes ``slot=`` (the scheduled time it runs for) as a keyword.
    takes_slot: bool = False


def current_slot(job: Job, settings: Settings, now: dt.datetime) -> dt.datetime:
    """The latest slot of ``job`` at or before ``now``: for an interval job, ``now`` floored to
    a multiple of its interval since the epoch (every scheduler agrees on it); for a clock job
    the last of its times, found by walking ``next_time`` from two weeks back."""
    if job.every is not None:
        step = job.every(settings)
        return dt.datetime.fromtimestamp(now.timestamp() // step * step, tz=dt.timezone.utc)
    slot = job.next_time(settings, now - dt.timedelta(days=15))
    while (following := job.next_time(settings, slot)) <= now:
        slot = following
    return slot


def run_slot(settings: Settings, engine: Engine, job: Job, slot: dt.datetime,
             stop: threading.Event, *, final_attempt: bool = True, requeue: bool = True) -> str:
    """Run a claimed slot's job once, recorded in ``job_slots``: ``ok``, ``skipped`` (finished
    already, or a live attempt holds it), ``stopped`` (the process is stopping: the slot goes
    back to the scheduler; without a scheduler to take it, ``requeue=False``, it ends as
    stopped and the thread's catch-up at the next start finishes the work). A failure is
    recorded and raised (``final_attempt``: no retry follows, so the slot is finished as
    failed)."""
    key, lease = job_runs.slot_key(slot), settings.job_lease_seconds
    if not job_runs.start(engine, job.name, key, lease):
        return "skipped"
    try:
        with job_runs.Renewal(engine, job.name, key, lease):
            if job.takes_slot:
                job.run(settings, engine, stop, slot=slot)  # type: ignore[call-arg]
            else:
                job.run(settings, engine, stop)
    except Exception as exc:
        job_runs.finish(engine, job.name, key, "failed", job_runs.first_line(exc),
                        done=final_attempt)
        raise
    if stop.is_set():  # the job returned early: what it left is the next attempt's
        if requeue:
            job_runs.release(engine, job.name, key, "stopped")
        else:
            job_runs.finish(engine, job.name, key, "stopped")
        return "stopped"
    job_runs.finish(engine, job.name, key, "ok")
    return "ok"


def run_sync_job(settings: Settings, engine: Engine, stop: threading.Event) -> None:
    from dailypapers.sync.runner import run_sync

    report = run_sync(settings, engine, log=log.info, stop=stop, media=True)  # + thumbnails
    if not report.ok:
        log.warning("sync finished with errors: %s", "; ".join(report.errors))


def digest_day(settings: Settings, kind: str, slot: dt.datetime | None = None) -> dt.date:
    """The local date of the digest slot ``slot`` (default: the one whose time has come:
    before today's DIGEST_TIME, yesterday's). A daily digest covers the last feature day before
    that date, a weekly one the ISO week before it; so running early (catch-up at start) never
    sends a period before its time."""
    from dailypapers.notify.delivery import local_now

    if slot is not None:
        return slot.astimezone(zoneinfo.ZoneInfo(settings.digest_timezone)).date()
    now = local_now(settings)
    day = now.date() if now.time() >= _digest_clock(settings) else \
        now.date() - dt.timedelta(days=1)
    if kind == "weekly":
        weekday = WEEKDAYS.index(settings.digest_weekday)
        day -= dt.timedelta(days=(day.weekday() - weekday) % 7)
    return day


def _digest_job(kind: str) -> RunJob:
    def run(settings: Settings, engine: Engine, stop: threading.Event,
            slot: dt.datetime | None = None) -> None:
        from dailypapers.notify.delivery import send_digest

        report = send_digest(settings, engine, kind, None, today=digest_day(settings, kind, slot),
                             stop=stop, log_line=log.info)
        log.info("%s digest: %s sent, %s to retry, %s failed%s", kind, report.sent,
                 report.retried, report.failed, f"; {report.paused}" if report.paused else "")
    return run


def _digest_clock(settings: Settings) -> dt.time:
    return dt.time.fromisoformat(settings.digest_time)


def after_interval(settings: Settings, last: dt.datetime) -> dt.datetime:
    return last + dt.timedelta(minutes=settings.sync_interval_minutes)


def next_daily(settings: Settings, last: dt.datetime, *, weekday: int | None = None) -> dt.datetime:
    """The first DIGEST_TIME (on ``weekday``, 0 = Monday, if given) in DIGEST_TIMEZONE after
    ``last``."""
    zone = zoneinfo.ZoneInfo(settings.digest_timezone)
    local = last.astimezone(zone)
    day = local.date()
    while True:
        at = dt.datetime.combine(day, _digest_clock(settings), tzinfo=zone)
        if at > local and (weekday is None or day.weekday() == weekday):
            return at.astimezone(dt.timezone.utc)
        day += dt.timedelta(days=1)


def next_weekly(settings: Settings, last: dt.datetime) -> dt.datetime:
    return next_daily(settings, last, weekday=WEEKDAYS.index(settings.digest_weekday))


def sync_seconds(settings: Settings) -> float:
    return settings.sync_interval_minutes * 60


def scheduled_jobs(sync: bool = True) -> list[Job]:
    """What ``serve`` runs in the background (and, with a queue, the scheduler enqueues)."""
    jobs = [Job("sync", run_sync_job, after_interval, every=sync_seconds)] if sync else []
    return jobs + [Job("digest-daily", _digest_job("daily"), next_daily, claims_slots=True,
                       takes_slot=True),
                   Job("digest-weekly", _digest_job("weekly"), next_weekly, claims_slots=True,
                       takes_slot=True)]


class Scheduler(BackgroundThread):
    """Runs its jobs one at a time, each when its time comes; every job once ``first_delay``
    seconds after start, unclaimed (a catch-up: it finishes what a process that died left, and
    running twice is safe); later runs of a slot-claiming job only if this process claimed the
    slot."""

    thread_name = "dailypapers-jobs"

    def __init__(self, settings: Settings, engine: Engine, *, jobs: list[Job] | None = None,
                 first_delay: float = 5.0):
        super().__init__()
        self.settings = settings
        self.engine = engine
        self.jobs = list(scheduled_jobs() if jobs is None else jobs)
        self.first_delay = first_delay
        self.counts: dict[str, int] = {job.name: 0 for job in self.jobs}
        self.skipped: dict[str, int] = {job.name: 0 for job in self.jobs}  # slots taken elsewhere

    @property
    def job_names(self) -> list[str]:
        return [job.name for job in self.jobs]

    @property
    def runs(self) -> int:
        """How many times the sync has run (what callers waiting on fresh data want)."""
        return self.counts.get("sync", 0)

    def _loop(self) -> None:
        start = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=self.first_delay)
        due = {job.name: start for job in self.jobs}
        catch_up = {job.name for job in self.jobs}
        while self.jobs:
            job = min(self.jobs, key=lambda j: due[j.name])
            wait = (due[job.name] - dt.datetime.now(dt.timezone.utc)).total_seconds()
            if self._stop.wait(max(0.0, wait)):
                return
            try:
                if job.name in catch_up or not job.claims_slots:
                    job.run(self.settings, self.engine, self._stop)
                    self.counts[job.name] += 1
                elif job_runs.claim_slot(self.engine, job.name, due[job.name],
                                self.settings.job_lease_seconds):
                    run_slot(self.settings, self.engine, job, due[job.name], self._stop,
                             requeue=False)
                    self.counts[job.name] += 1
                else:
                    self.skipped[job.name] += 1
            except Exception:  # keep serving whatever happens upstream or at the relay
                log.exception("job %s failed", job.name)
                count_task_failure(job.name)
                self.counts[job.name] += 1
            catch_up.discard(job.name)
            # A clock job's next slot follows from its last one, so every process computes the
            # same slots; an interval job's next run follows from the end of this one.
            last = due[job.name] if job.claims_slots else dt.datetime.now(dt.timezone.utc)
            due[job.name] = job.next_time(self.settings, last)
