"""Prometheus metrics, in prometheus-client's multiprocess mode.

Every process of a node (each web worker, the in-process job thread's server, a queue worker on
the same machine) writes its counters and histograms to memory-mapped files in one folder, and
``/metrics`` (web/observability.py) adds them up at scrape time. The folder:
``$PROMETHEUS_MULTIPROC_DIR`` when set (the operator's, or the one ``serve`` handed its worker
processes), else ``DAILYPAPERS_METRICS_DIR``, else ``<data_dir>/metrics``. One folder per machine
(or container): files are named by process id, and a server starting removes those of processes
that are no longer alive (:func:`forget_dead_processes`), so counters restart with the service;
each scrape drops the live gauges of processes that have died since (:func:`forget_dead_live_gauges`).

What is counted as it happens (here): requests by route template and status class, their
latency, failed jobs, pooled database connections in use, the response cache's answers by
outcome and its render times (:class:`CacheMeters`). What is read at scrape time from the
database and the index folder (:class:`DatabaseCollector`, in the scraping process only, one short
read transaction): digest mails by outbox state, one-off mails by queued_mail state, queue depth, the last slot each scheduled job
claimed, keyword index lag behind the database, papers and stored vectors.
"""

from __future__ import annotations

import atexit
import datetime as dt
import functools
import glob
import logging
import os
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

log = logging.getLogger("dailypapers.metrics")

ENV = "PROMETHEUS_MULTIPROC_DIR"
OUTBOX_STATES = ("pending", "sending", "sent", "failed", "skipped")  # db/schema.py digest_outbox
QUEUED_MAIL_STATES = ("pending", "sent", "skipped", "failed")  # notify/queued_mail.py
# Page and API answers take 1-20 ms here (bench/page_speed.py), a hybrid search ~16 ms, an
# embedding-backed first search or a slow PostgreSQL far more: buckets from 2.5 ms to 10 s.
LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# What the response cache (web/cache.py) did with an anonymous-looking GET, one per answer it
# handled: answered from this process's store (hit), served stale within the vote lag (stale),
# taken from another process through the shared cache (shared), rendered for the request
# (rendered), or not looked up at all (uncached: signed in, Authorization, a credential link,
# the cache off, the database away). ``refreshed`` counts the background refreshes of stale
# answers instead, which answer no client.
CACHE_OUTCOMES = ("hit", "stale", "shared", "rendered", "refreshed", "uncached")
RENDER_OUTCOMES = ("rendered", "refreshed")
# How long voted answers were served stale (web/cache.py): the lag, then the wait for a
# refresh's turn, up to DAILYPAPERS_CACHE_SECONDS
STALE_BUCKETS = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)


def metrics_dir(settings: Any) -> Path:
    """The folder this process writes to (chosen once: the first call sets ``$ENV``, which the
    processes it starts inherit)."""
    pinned = os.environ.get(ENV)
    if pinned:
        return Path(pinned)
    chosen = Path(settings.metrics_dir) if settings.metrics_dir else \
        Path(settings.data_dir) / "metrics"
    return chosen.resolve()


def use_multiprocess_dir(settings: Any) -> Path:
    """Point prometheus-client at the folder, before any of our metrics holds a value."""
    path = metrics_dir(settings)
    path.mkdir(parents=True, exist_ok=True)
    os.environ[ENV] = str(path)
    from prometheus_client import values

    # prometheus-client picks its value class when first imported: if that happened before the
    # variable was set (another library), switch it now; our metrics are made after this.
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.MultiProcessValue()
    _at_exit_once()
    return path


@functools.lru_cache(maxsize=1)
def _at_exit_once() -> None:
    atexit.register(process_exiting)


def forget_dead_processes(path: Path) -> int:
    """Remove the files of processes that are not running (a previous run's, a crashed worker's):
    run by a server before it starts its processes. Returns how many were removed."""
    removed = 0
    for name in glob.glob(str(path / "*.db")):
        pid_part = os.path.basename(name)[:-3].rsplit("_", 1)[-1]
        if not pid_part.isdigit() or _alive(int(pid_part)):
            continue
        try:
            os.remove(name)
            removed += 1
        except FileNotFoundError:
            pass
    return removed


def forget_dead_live_gauges(path: Path) -> None:
    """Drop the "live" gauges (connections in use, capacity) of processes that died without
    saying so: uvicorn re-raises SIGTERM after its graceful shutdown, so no exit hook runs, and a
    killed worker runs none either. Run at every scrape: a glob and a signal 0 per process."""
    from prometheus_client import multiprocess

    for name in glob.glob(str(path / "gauge_live*_*.db")):
        pid_part = os.path.basename(name)[:-3].rsplit("_", 1)[-1]
        if pid_part.isdigit() and not _alive(int(pid_part)):
            multiprocess.mark_process_dead(int(pid_part), str(path))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_exiting() -> None:
    """This process's live gauges (connections in use) stop counting."""
    from prometheus_client import multiprocess

    if os.environ.get(ENV):
        multiprocess.mark_process_dead(os.getpid())


# --- what is counted as it happens --------------------------------------------------------------


@dataclass(frozen=True)
class Instruments:
    request_seconds: Any
    requests: Any
    task_failures: Any
    pool_in_use: Any
    pool_capacity: Any
    cache_answers: Any
    cache_render_seconds: Any
    cache_stale_seconds: Any


@functools.lru_cache(maxsize=1)
def instruments() -> Instruments:
    """Made once per process, after :func:`use_multiprocess_dir` (their values live in its files)."""
    from prometheus_client import Counter, Gauge, Histogram

    return Instruments(
        request_seconds=Histogram(
            "dailypapers_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route template",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=None),
        requests=Counter(
            "dailypapers_http_requests", "Answers by route template and status class (2xx ...)",
            ["route", "status"], registry=None),
        task_failures=Counter(
            "dailypapers_task_failures", "Background jobs that ended with an error, by job",
            ["job"], registry=None),
        pool_in_use=Gauge(
            "dailypapers_db_pool_in_use",
            "Database connections checked out of the pools of all live processes",
            multiprocess_mode="livesum", registry=None),
        pool_capacity=Gauge(
            "dailypapers_db_pool_capacity",
            "Pool size plus overflow, summed over live processes (compare with max_connections)",
            multiprocess_mode="livesum", registry=None),
        cache_answers=Counter(
            "dailypapers_response_cache_answers",
            "Anonymous GETs by what the response cache did: hit, stale, shared, rendered, "
            "uncached; refreshed: background refreshes of stale answers",
            ["outcome"], registry=None),
        cache_render_seconds=Histogram(
            "dailypapers_response_cache_render_seconds",
            "Renders by the response cache, from start to the answer's end (the wait for a "
            "render slot, the answer sent and offered to the shared cache, all included): for a "
            "request (rendered) or a background refresh (refreshed)",
            ["outcome"], buckets=LATENCY_BUCKETS, registry=None),
        cache_stale_seconds=Histogram(
            "dailypapers_response_cache_stale_seconds",
            "Answers a vote changed, by how long they were still served (X-Cache: stale): from "
            "when a request first found them changed to when their refresh ended (kept anew, "
            "or dropped for the next request to render)",
            buckets=STALE_BUCKETS, registry=None),
    )


class CacheMeters:
    """The response cache's counts, cheap on its hot path: one prebuilt child per outcome (a
    dict read and an mmap write per answer, ~1 µs next to a hit's ~100 µs). Off (every call
    returns at once) when this process has no metrics folder, and from the first time the
    folder fails (warned once), as RequestObserver does."""

    def __init__(self) -> None:
        self._answers: dict[str, Any] | None = None
        self._seconds: dict[str, Any] | None = None
        self._stale: Any = None
        if not os.environ.get(ENV):
            return
        try:
            meters = instruments()
            self._answers = {o: meters.cache_answers.labels(outcome=o) for o in CACHE_OUTCOMES}
            self._seconds = {o: meters.cache_render_seconds.labels(outcome=o)
                             for o in RENDER_OUTCOMES}
            self._stale = meters.cache_stale_seconds
        except OSError:
            self._off()

    def count(self, outcome: str) -> None:
        """One answer (or refresh) of ``outcome``, one of CACHE_OUTCOMES."""
        if self._answers is not None:
            try:
                self._answers[outcome].inc()
            except OSError:
                self._off()

    def rendered(self, outcome: str, seconds: float) -> None:
        """A render's time, ``outcome`` one of RENDER_OUTCOMES."""
        if self._seconds is not None:
            try:
                self._seconds[outcome].observe(seconds)
            except OSError:
                self._off()

    def served_stale(self, seconds: float) -> None:
        """A voted answer's refresh ended ``seconds`` after it was first found changed."""
        if self._stale is not None:
            try:
                self._stale.observe(seconds)
            except OSError:
                self._off()

    def _off(self) -> None:
        self._answers = self._seconds = self._stale = None
        log.warning("metrics folder unusable; response cache metrics stop here", exc_info=True)


def count_task_failure(job: str) -> None:
    """Called where a job's failure is caught (jobs.Scheduler; a queue worker may call it too)."""
    if os.environ.get(ENV):
        try:
            instruments().task_failures.labels(job=job).inc()
        except OSError:  # the folder went away: the failure is logged all the same
            log.warning("metrics folder unusable: task failure of %s not counted", job)


_instrumented: weakref.WeakSet[Engine] = weakref.WeakSet()


def instrument_pool(engine: Engine) -> None:
    """Count this engine's checked-out connections into ``dailypapers_db_pool_in_use``."""
    if engine in _instrumented or not os.environ.get(ENV):
        return
    _instrumented.add(engine)
    meters = instruments()
    pool = engine.pool
    size = getattr(pool, "size", None)
    overflow = getattr(pool, "_max_overflow", 0)
    if callable(size):
        meters.pool_capacity.inc(size() + max(0, overflow))

    @sa.event.listens_for(engine, "checkout")
    def _out(*_args: Any) -> None:
        meters.pool_in_use.inc()

    @sa.event.listens_for(engine, "checkin")
    def _in(*_args: Any) -> None:
        meters.pool_in_use.dec()


# --- what is read at scrape time ----------------------------------------------------------------


QueueDepths = Callable[[], dict[str, int]]


def _queue_depths_from_module(settings: Any) -> dict[str, int] | None:
    """The task queue's own depths, when the queue module offers ``depths(settings)``."""
    if not getattr(settings, "queue_url", ""):
        return None
    try:
        from dailypapers import queue  # type: ignore[attr-defined]
    except ImportError:
        return None
    depths = getattr(queue, "depths", None)
    if not callable(depths):
        return None
    try:
        return dict(depths(settings))
    except Exception as exc:  # noqa: BLE001 - the queue down: the scrape still answers
        log.warning("metrics: the queue did not answer: %s", exc.__class__.__name__)
        return None


class DatabaseCollector:
    """Gauges read when Prometheus scrapes: rows by state and index lag. One read transaction;
    if the database does not answer, ``dailypapers_database_up`` is 0 and the rest is left out
    (the scrape still succeeds)."""

    def __init__(self, engine: Engine, settings: Any, keyword_path: Path | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.keyword_path = keyword_path

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily("dailypapers_database_up",
                               "1 if the database answered this scrape's queries")
        try:
            families = list(self._from_database())
        except sa.exc.SQLAlchemyError as exc:
            log.warning("metrics: the database did not answer: %s", exc.__class__.__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _from_database(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        from dailypapers.db.engine import db_now, read_transaction
        from dailypapers.db.schema import (
            digest_outbox, feature_days, job_slots, paper_embeddings, papers, queued_mail,
        )

        with read_transaction(self.engine) as conn:
            outbox = dict.fromkeys(OUTBOX_STATES, 0)
            for state, count in conn.execute(
                    sa.select(digest_outbox.c.state, sa.func.count()).group_by(digest_outbox.c.state)):
                outbox[state] = count
            one_off = dict.fromkeys(QUEUED_MAIL_STATES, 0)  # a few rows: pruned after 30 days
            for state, count in conn.execute(
                    sa.select(queued_mail.c.state, sa.func.count()).group_by(queued_mail.c.state)):
                one_off[state] = count
            slots = conn.execute(sa.select(job_slots.c.job, sa.func.max(job_slots.c.slot))
                                 .group_by(job_slots.c.job)).all()
            # One pass over papers for its count and newest stamps (~45 ms at 200,000 rows on
            # PostgreSQL here; three separate queries took twice that).
            paper_count, *newest = conn.execute(sa.select(
                sa.func.count(), sa.func.max(papers.c.row_updated_at),
                sa.func.max(papers.c.counts_updated_at))).one()
            newest.append(conn.execute(sa.select(sa.func.max(feature_days.c.row_updated_at)))
                          .scalar())
            vectors = conn.execute(sa.select(paper_embeddings.c.model, sa.func.count())
                                   .group_by(paper_embeddings.c.model)).all()
            now = db_now(conn)

        mails = GaugeMetricFamily("dailypapers_outbox_mails", "Digest mails by outbox state",
                                  labels=["state"])
        for state, count in sorted(outbox.items()):
            mails.add_metric([state], count)
        yield mails
        queued = GaugeMetricFamily(
            "dailypapers_queued_mails",
            "One-off mails (password resets, subscription mails) by queued_mail state",
            labels=["state"])
        for state, count in sorted(one_off.items()):
            queued.add_metric([state], count)
        yield queued

        depths = _queue_depths_from_module(self.settings)
        if depths is None:  # the embedded mode: the outbox is the only queue there is
            depths = {"digest_outbox": outbox["pending"] + outbox["sending"]}
        queue = GaugeMetricFamily("dailypapers_queue_depth",
                                  "Work waiting: tasks on the queue, or unsent digest mails",
                                  labels=["queue"])
        for name, count in sorted(depths.items()):
            queue.add_metric([name], count)
        yield queue

        last = GaugeMetricFamily("dailypapers_job_last_slot_timestamp_seconds",
                                 "The latest slot each scheduled job claimed (Unix time)",
                                 labels=["job"])
        for job, slot in slots:
            try:
                last.add_metric([job], dt.datetime.fromisoformat(slot).timestamp())
            except ValueError:
                continue
        yield last

        yield GaugeMetricFamily("dailypapers_papers", "Papers in the database", value=paper_count)
        stored = GaugeMetricFamily("dailypapers_index_vectors", "Stored paper vectors by model",
                                   labels=["model"])
        for model, count in vectors:
            stored.add_metric([model], count)
        yield stored
        try:
            families = list(self._keyword_lag(newest, now))
        except (OSError, ValueError, KeyError):  # a generation swapped or removed meanwhile
            families = []
        yield from families

    def _keyword_lag(self, newest: list[Any], now: dt.datetime) -> Iterator[Any]:
        """How far the node's keyword index trails the database: the newest change to a paper
        (its row, its counts, its feature days) minus the index's watermark, 0 when caught up.
        The watermark is the database clock at the index's last look (index/keyword_store.py)."""
        from prometheus_client.core import GaugeMetricFamily

        from dailypapers.index import keyword_store
        from dailypapers.index.keyword_schema import utc

        path = self.keyword_path or keyword_store.keyword_dir(self.settings.data_dir)
        gen = keyword_store.current_generation(path)
        if gen is None:
            return
        state = keyword_store.read_state(gen)
        documents = GaugeMetricFamily("dailypapers_index_keyword_documents",
                                      "Documents in this node's keyword index",
                                      value=state.get("documents", 0))
        yield documents
        if not state.get("watermark"):
            return
        watermark = utc(dt.datetime.fromisoformat(state["watermark"]))
        stamps = [utc(s) for s in newest if s is not None]
        lag = max(0.0, (max(stamps) - watermark).total_seconds()) if stamps else 0.0
        yield GaugeMetricFamily(
            "dailypapers_index_keyword_lag_seconds",
            "Newest paper change in the database minus the keyword index's watermark (0: caught up)",
            value=lag)
        yield GaugeMetricFamily(
            "dailypapers_index_keyword_age_seconds",
            "Time since the keyword index last caught up (grows when its updater is stuck)",
            value=max(0.0, (utc(now) - watermark).total_seconds()))


def render(engine: Engine, settings: Any) -> tuple[bytes, str]:
    """The exposition text of every process's metrics plus the database's gauges."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

    path = os.environ[ENV]
    forget_dead_live_gauges(Path(path))
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)
    registry.register(DatabaseCollector(engine, settings))  # type: ignore[arg-type]
    return generate_latest(registry), CONTENT_TYPE_LATEST
