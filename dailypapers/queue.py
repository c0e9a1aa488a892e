"""Background work on a real queue: dramatiq on Redis, for `dailypapers worker` and `scheduler`.

Why dramatiq (2.x, with its Redis broker):
- a message is acknowledged only after its task returned, and the messages a dead worker held
  (no heartbeat for DAILYPAPERS_QUEUE_DEAD_WORKER_SECONDS) go back on the queue, so a SIGKILLed
  worker loses no task; rq and arq only notice a dead worker's job through a timeout;
- retries with exponential backoff and jitter are built in (its ``Retries`` middleware), failed
  messages are kept aside (a dead-letter set) rather than dropped;
- it runs inside our own process (``dramatiq.Worker``): the worker is a `dailypapers` command
  with our settings, logging and signal handling, not a second CLI to configure;
- Redis is already here for the rate limiter, one broker fewer than RabbitMQ; procrastinate
  (PostgreSQL) would be the choice on a site without Redis, but would not serve SQLite either;
- it is small, typed, maintained since 2017 (LGPL: used unmodified as a library).
Dramatiq's own scheduler story is "bring your own": ours claims slots in the database
(job_runs.py), which also gives the run history `dailypapers jobs` shows.

Tasks, all on one queue, carry names and times only (never a secret: each worker reads its own
settings): ``slot(job, slot)`` runs one scheduled slot (job_runs.py records it), ``deliver()``
sends digest mails, ``embed()`` embeds papers without a vector, ``media()`` fetches the
thumbnails and avatars a sync found, ``mail(id)`` sends one queued one-off mail (a password
reset, a subscription's confirmation: notify/queued_mail.py; the id names a row, the worker
makes the token or signed link when it sends). ``embed`` and ``media`` relay: a task that
finds work left enqueues one more of itself before doing its share, so every idle worker joins a
large digest or a backlog of abstracts (each claims its own outbox rows / papers), and the chain
ends when a task finds nothing to do.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage, Retries, ShutdownNotifications
from sqlalchemy.engine import Engine

from dailypapers import job_runs
from dailypapers.db.engine import read_transaction
from dailypapers.jobs import Job, current_slot, digest_day, run_slot, scheduled_jobs
from dailypapers.metrics import count_task_failure
from dailypapers.settings import Settings, safe_queue_url

log = logging.getLogger("dailypapers.queue")

QUEUE = "jobs"
# Out of a million broker calls, how many also requeue dead workers' messages. Dramatiq's
# default (1,000) lets a dead worker's task wait minutes on an idle queue; the sweep is one
# ZRANGEBYSCORE while no worker is dead.
MAINTENANCE_CHANCE = 100_000
MAX_BACKOFF_MS = 3_600_000
CONNECT_TIMEOUT = 3.0
MAIL_SWEEP_SECONDS = 10.0  # how often the scheduler looks for one-off mails left unsent


class QueueUnreachable(Exception):
    """The queue URL does not answer (the message names DAILYPAPERS_QUEUE_URL)."""


class QueueNotSet(Exception):
    pass


def require_queue(settings: Settings) -> str:
    if not settings.queue_url:
        raise QueueNotSet("DAILYPAPERS_QUEUE_URL is empty: set it to redis://host:6379/0 to run "
                          "workers and a scheduler (without it, `dailypapers serve` runs the jobs "
                          "on a thread of its own)")
    return settings.queue_url


def redis_client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(require_queue(settings), socket_connect_timeout=CONNECT_TIMEOUT,
                                socket_timeout=CONNECT_TIMEOUT * 2)


def check_queue(settings: Settings) -> None:
    """Raise QueueUnreachable unless the queue answers a PING."""
    client = redis_client(settings)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise QueueUnreachable(
            f"DAILYPAPERS_QUEUE_URL: {safe_queue_url(settings.queue_url)} does not answer "
            f"({reason[:160]}); start Redis there or correct the setting") from None
    finally:
        client.close()


@dataclass
class QueueDepth:
    waiting: int  # ready for a worker
    delayed: int  # retries waiting out their backoff
    held: int  # every message the queue holds, those being run included
    dead: int  # given up after the last retry, kept aside


def queue_depth(settings: Settings) -> QueueDepth:
    """What the queue holds; raises QueueUnreachable."""
    client = redis_client(settings)
    base = f"{settings.queue_prefix}:{QUEUE}"
    try:
        with client.pipeline(transaction=False) as pipe:
            pipe.llen(base).hlen(f"{base}.DQ.msgs").hlen(f"{base}.msgs").zcard(f"{base}.XQ")
            waiting, delayed, held, dead = pipe.execute()
    except (redis.RedisError, OSError) as exc:
        raise QueueUnreachable(
            f"DAILYPAPERS_QUEUE_URL: {safe_queue_url(settings.queue_url)} does not answer "
            f"({type(exc).__name__})") from None
    finally:
        client.close()
    return QueueDepth(int(waiting), int(delayed), int(held) + int(delayed), int(dead))


# --- the broker and its actors ----------------------------------------------------------------


@dataclass
class Context:
    """What tasks run with in this process: set by :func:`run_worker`."""

    settings: Settings
    engine: Engine
    stop: threading.Event = field(default_factory=threading.Event)
    actors: dict[str, dramatiq.Actor] = field(default_factory=dict)  # type: ignore[type-arg]


_context: Context | None = None


def _ctx() -> Context:
    if _context is None:
        raise RuntimeError("no worker context: tasks run inside `dailypapers worker`")
    return _context


def make_broker(settings: Settings) -> tuple[RedisBroker, dict[str, dramatiq.Actor]]:  # type: ignore[type-arg]
    """A broker on DAILYPAPERS_QUEUE_URL with our actors declared (the same in every process)."""
    broker = RedisBroker(
        url=require_queue(settings), namespace=settings.queue_prefix,
        heartbeat_timeout=int(settings.queue_dead_worker_seconds * 1000),
        maintenance_chance=MAINTENANCE_CHANCE,
        socket_connect_timeout=CONNECT_TIMEOUT,
        middleware=[
            ShutdownNotifications(), CurrentMessage(),
            Retries(max_retries=settings.queue_max_retries,
                    min_backoff=int(settings.queue_retry_seconds * 1000),
                    max_backoff=MAX_BACKOFF_MS),
        ])
    actors = {name: dramatiq.Actor(fn, broker=broker, actor_name=name, queue_name=QUEUE,
                                   priority=0, options={})
              for name, fn in (("slot", _slot_task), ("deliver", _deliver_task),
                               ("embed", _embed_task), ("media", _media_task),
                               ("mail", _mail_task))}
    return broker, actors


def _final_attempt(settings: Settings) -> bool:
    message = CurrentMessage.get_current_message()
    retries = message.options.get("retries", 0) if message is not None else 0
    return retries >= settings.queue_max_retries


def _slot_task(job: str, slot: str) -> None:
    ctx = _ctx()
    jobs = {j.name: j for j in queued_jobs(ctx.settings)}
    if job not in jobs:  # renamed, or turned off (EMBED_IN_BACKGROUND): finished, not retried
        log.warning("no job named %s here: slot %s ends", job, slot)
        job_runs.finish(ctx.engine, job, slot, "failed", f"no job named {job} in this version "
                        "or with these settings")
        return
    try:
        outcome = run_slot(ctx.settings, ctx.engine, jobs[job], dt.datetime.fromisoformat(slot),
                           ctx.stop, final_attempt=_final_attempt(ctx.settings))
    except Exception:
        count_task_failure(job)  # summed into /metrics with the web processes' figures
        raise
    log.info("job %s slot %s: %s", job, slot, outcome)


def _deliver_task() -> None:
    ctx = _ctx()
    _deliver_share(ctx.settings, ctx.engine, ctx.stop)


def _embed_task() -> None:
    ctx = _ctx()
    embed_share(ctx.settings, ctx.engine, ctx.stop)


def _media_task() -> None:
    from dailypapers.ingest.media import fetch_media

    ctx = _ctx()
    fetch_media(ctx.settings, ctx.engine, log=log.info, stop=ctx.stop)


def _mail_task(mail_id: int) -> None:
    from dailypapers.notify.mail import backend_from_settings
    from dailypapers.notify.queued_mail import MailNotSent, send_queued

    ctx = _ctx()
    try:
        outcome = send_queued(ctx.settings, ctx.engine, backend_from_settings(ctx.settings),
                              int(mail_id))
    except Exception as exc:
        count_task_failure("mail")
        if isinstance(exc, MailNotSent):  # the relay refused: retried after dramatiq's backoff
            log.warning("queued mail %s not sent: %s", mail_id, exc)
        raise
    log.info("queued mail %s: %s", mail_id, outcome)


class MailEnqueuer:
    """A web process's way to hand a committed ``queued_mail`` row to the workers: one broker
    per process, made on first use. Never raises: a row whose enqueue failed (the queue is
    down) stays pending, and the scheduler's sweep enqueues it later."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._actor: dramatiq.Actor | None = None  # type: ignore[type-arg]
        self._lock = threading.Lock()

    def __call__(self, mail_id: int) -> bool:
        try:
            with self._lock:
                if self._actor is None:
                    self._actor = make_broker(self.settings)[1]["mail"]
            self._actor.send(mail_id)
        except (redis.RedisError, OSError) as exc:
            log.warning("could not enqueue queued mail %s (%s): the scheduler's sweep will",
                        mail_id, type(exc).__name__)
            return False
        return True


def sweep_mail(settings: Settings, engine: Engine, send: Callable[[int], Any]) -> int:
    """Enqueue the one-off mails left unsent (enqueue failed, worker died); how many."""
    from dailypapers.notify import queued_mail

    ids = queued_mail.take_due(engine, settings)
    for done, mail_id in enumerate(ids):
        try:
            send(mail_id)
        except (redis.RedisError, OSError):
            queued_mail.release(engine, ids[done:])  # due again on the next round
            raise
    if ids:
        log.info("enqueued %d queued mails again", len(ids))
    return len(ids)


def _relay(name: str) -> None:
    """One more task of this kind for whichever worker is free."""
    ctx = _ctx()
    try:
        ctx.actors[name].send()
    except (redis.RedisError, OSError):  # the queue is down: this task does the work alone
        log.warning("could not enqueue a helper %s task", name)


# --- what the tasks do -------------------------------------------------------------------------


def _deliver_share(settings: Settings, engine: Engine, stop: threading.Event) -> None:
    from dailypapers.community.secret_key import load_secret_key
    from dailypapers.notify import outbox
    from dailypapers.notify.delivery import deliver

    with read_transaction(engine) as conn:
        if outbox.current_pause(conn) or not _open_outbox_rows(conn):
            return  # nothing to send (or senders paused: the next digest slot resumes)
    _relay("deliver")
    report = deliver(settings, engine, load_secret_key(settings), stop=stop, log_line=log.info)
    log.info("digest mails: %s sent, %s to retry, %s failed%s", report.sent, report.retried,
             report.failed, f"; {report.paused}" if report.paused else "")


def _open_outbox_rows(conn: Any) -> bool:
    import sqlalchemy as sa

    from dailypapers.db.schema import digest_outbox

    return conn.execute(sa.select(digest_outbox.c.id).where(
        digest_outbox.c.state.in_(("pending", "sending"))).limit(1)).first() is not None


def _sync_slot(settings: Settings, engine: Engine, stop: threading.Event) -> None:
    """The sync, then thumbnails and avatars as a task of their own (any worker, retried
    apart from the sync)."""
    from dailypapers.sync.runner import run_sync

    report = run_sync(settings, engine, log=log.info, stop=stop, media=False)
    if not report.ok:
        log.warning("sync finished with errors: %s", "; ".join(report.errors))
    if settings.media_fetch_max > 0 and not stop.is_set():
        _relay("media")


def _digest_slot(kind: str) -> Callable[..., None]:
    def run(settings: Settings, engine: Engine, stop: threading.Event,
            slot: dt.datetime | None = None) -> None:
        from dailypapers.notify.delivery import send_digest

        # Build only: send_digest with sending stopped before it starts. Then every free worker
        # helps send (each claims its own outbox rows), this one too; the slot is done when no
        # mail is left to send.
        built_only = threading.Event()
        built_only.set()
        send_digest(settings, engine, kind, None, today=digest_day(settings, kind, slot),
                    stop=built_only, log_line=log.info)
        _deliver_share(settings, engine, stop)
    return run


def embed_share(settings: Settings, engine: Engine, stop: threading.Event) -> int:
    """Embed papers without a vector, claimed a batch at a time, with a helper task enqueued
    for another worker while any are left."""
    from dailypapers.index.embedder import get_embedder
    from dailypapers.index.vectors import embed_pending, pending

    embedder = get_embedder(settings.embedder)
    with read_transaction(engine) as conn:
        if not pending(conn, embedder.name, 1):
            return 0
    _relay("embed")
    done = embed_pending(engine, embedder, stop=stop)
    if done:
        log.info("embedded %d papers", done)
    return done


def _embed_slot(settings: Settings, engine: Engine, stop: threading.Event) -> None:
    embed_share(settings, engine, stop)


def embed_seconds(settings: Settings) -> float:
    return settings.embed_interval_minutes * 60


def _after_embed_interval(settings: Settings, last: dt.datetime) -> dt.datetime:
    return last + dt.timedelta(seconds=embed_seconds(settings))


def queued_jobs(settings: Settings) -> list[Job]:
    """The scheduler's jobs: the sync and the digests of jobs.py (the digests' delivery shared
    by every free worker), and the embedding of new papers unless EMBED_IN_BACKGROUND is off."""
    jobs = []
    for job in scheduled_jobs():
        if job.name == "sync":
            job = Job("sync", _sync_slot, job.next_time, every=job.every)
        elif job.name.startswith("digest-"):
            job = Job(job.name, _digest_slot(job.name.removeprefix("digest-")), job.next_time,
                      claims_slots=True, takes_slot=True)
        jobs.append(job)
    if settings.embed_in_background:
        jobs.append(Job("embed", _embed_slot, _after_embed_interval, every=embed_seconds))
    return jobs


# --- the two commands --------------------------------------------------------------------------


def run_worker(settings: Settings, engine: Engine, stop: threading.Event, *,
               threads: int = 1, grace_seconds: float = 30.0) -> None:
    """Consume tasks until ``stop`` is set; then let running tasks see it and finish."""
    global _context
    check_queue(settings)
    broker, actors = make_broker(settings)
    _context = Context(settings, engine, threading.Event(), actors)
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=1000)
    # No message waits in a busy worker's hands (dramatiq prefetches twice its threads): a
    # helper task goes to a worker that is free.
    worker.queue_prefetch = threads
    worker.start()
    log.info("worker consuming %s on %s", QUEUE, safe_queue_url(settings.queue_url))
    try:
        stop.wait()
    finally:
        _context.stop.set()  # jobs check it between batches and return
        worker.stop(timeout=int(grace_seconds * 1000))
        broker.close()


@dataclass
class SlotScheduler:
    """One round of the scheduler: claim each job's current slot (the first scheduler to claim
    it enqueues it), and enqueue again the slots whose lease ran out unfinished."""

    settings: Settings
    engine: Engine
    send: Callable[[str, str], Any]  # (job, slot key) → enqueued, or raises when the queue is down
    jobs: list[Job] = field(default_factory=list)
    enqueued: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=1000))
    queue_down: bool = False

    def tick(self, now: dt.datetime | None = None) -> None:
        now = now or dt.datetime.now(dt.timezone.utc)
        lease = self.settings.job_lease_seconds
        for job in self.jobs:
            slot = current_slot(job, self.settings, now)
            if job_runs.claim_slot(self.engine, job.name, slot, lease):
                self._enqueue(job.name, job_runs.slot_key(slot))
        for name, key in job_runs.take_expired(self.engine, lease):
            self._enqueue(name, key)

    def _enqueue(self, job: str, key: str) -> None:
        try:
            self.send(job, key)
        except (redis.RedisError, OSError) as exc:
            # Claimed but not queued: given back, so a later round enqueues it once the queue
            # answers. The slot waits; it is never dropped.
            job_runs.release(self.engine, job, key)
            if not self.queue_down:
                log.warning("the queue does not answer (%s): %s %s waits", type(exc).__name__,
                            job, key)
            self.queue_down = True
            return
        if self.queue_down:
            log.info("the queue answers again")
        self.queue_down = False
        self.enqueued.append((job, key))
        log.info("enqueued %s %s", job, key)


def _sweep_round(settings: Settings, engine: Engine, send: Callable[[int], Any]) -> None:
    try:
        sweep_mail(settings, engine, send)
    except (redis.RedisError, OSError) as exc:
        log.warning("the queue does not answer (%s): queued mails wait", type(exc).__name__)


def run_scheduler(settings: Settings, engine: Engine, stop: threading.Event) -> None:
    check_queue(settings)
    broker, actors = make_broker(settings)
    jobs = queued_jobs(settings)
    scheduler = SlotScheduler(settings, engine,
                              lambda job, key: actors["slot"].send(job, key), jobs)
    shortest = min((job.every(settings) for job in jobs if job.every), default=60.0)
    pause = min(1.0, shortest / 4)
    log.info("scheduling %s on %s", ", ".join(j.name for j in jobs),
             safe_queue_url(settings.queue_url))
    last_prune = last_sweep = 0.0
    try:
        while not stop.is_set():
            try:
                scheduler.tick()
                if time.monotonic() - last_sweep > MAIL_SWEEP_SECONDS:
                    last_sweep = time.monotonic()
                    _sweep_round(settings, engine, actors["mail"].send)
                if dt.datetime.now().timestamp() - last_prune > 3600:
                    from dailypapers.notify.queued_mail import prune

                    job_runs.prune(engine)
                    prune(engine)
                    last_prune = dt.datetime.now().timestamp()
            except Exception:  # the database away for a moment: the next round tries again
                log.exception("scheduler round failed")
            stop.wait(pause)
    finally:
        broker.close()
