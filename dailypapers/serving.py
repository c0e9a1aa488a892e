"""How `dailypapers serve` runs: one process (:func:`serve_one`), or with ``--workers N`` N web
processes under one supervisor, on one socket (:func:`serve_workers`).

uvicorn's own supervisor (``uvicorn.supervisors.Multiprocess``) starts the web processes with
``spawn``, hands each the socket the command bound, restarts one that dies or stops answering
its health check, and on SIGTERM or SIGINT tells each to finish its requests (within
``SHUTDOWN_GRACE_SECONDS``) before it exits. gunicorn would add a dependency for the same job.

Who does what (``DAILYPAPERS_QUEUE_URL`` empty, the embedded default):
- the command, before any web process starts: migrations (``db.migrate.upgrade``, which takes a
  lock so that other processes starting at once wait), the secret key, the demo check and the
  connection budget (:func:`check_connection_budget`);
- the supervisor: the one jobs thread (``jobs.Scheduler``: sync and digests) and the embedding
  (``index.worker.EmbedWorker``, when ``DAILYPAPERS_EMBED_IN_BACKGROUND``). In the supervisor, not
  in "the first worker": there is exactly one supervisor whatever N is and however often a web
  process is restarted, while "first" would move with restarts;
- each web process (:func:`worker_app`): pages and API, and its own search indexes, caught up
  from the database as in one process (``index.worker.IndexWorker`` with embedding off). The
  keyword folder under ``<data_dir>/index/`` is shared: an update takes its file lock, and the
  others then find nothing left to do (``keyword_store.update`` compares stamps). Past
  ``DAILYPAPERS_ANN_MIN_VECTORS`` the HNSW graph and its vectors are one per node too: built by
  the first process that needs them, saved under ``<data_dir>/index/vectors/`` and memory-mapped
  by all (``index.graph_store``; README, "Production", gives the cost).
With a queue URL, the jobs and the embedding belong to ``dailypapers worker`` processes instead,
and the supervisor runs neither.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Any

import sqlalchemy as sa
import uvicorn
from uvicorn.supervisors import Multiprocess

from dailypapers.cli_errors import ConfigError
from dailypapers.settings import Settings, get_settings

log = logging.getLogger("dailypapers.serve")

WORKER_APP = "dailypapers.serving:worker_app"  # the import string uvicorn's workers load
SHUTDOWN_GRACE_SECONDS = 3
# How long the supervisor waits for a web process to exit after its grace period (its lifespan
# stops the index thread: up to 5 s) before it kills it.
EXIT_WAIT_SECONDS = SHUTDOWN_GRACE_SECONDS + 7
# The supervisor restarts a web process that misses its health ping for this long (uvicorn's
# default, 5 s, is too short: on 2 busy cores, under bench/load.py, a process whose threads held
# the GIL (rendering, building its vector graph) missed it and was killed mid-load, then
# restarted cold: lost requests and a second graph build).
WORKER_HEALTHCHECK_SECONDS = 60


def worker_app() -> Any:
    """The app of one web process (uvicorn's factory, called in each spawned worker): settings
    from the same environment and file as the command's, no scheduled job, no embedding."""
    from dailypapers.db.engine import make_engine
    from dailypapers.web.app import create_app

    settings = get_settings().model_copy(update={"embed_in_background": False})
    engine = make_engine(settings.effective_database_url, **settings.engine_options)
    return create_app(settings, engine, index_worker=True, own_logging=True)


def runs_jobs_here(settings: Settings) -> bool:
    """Scheduled jobs and embedding run inside ``serve`` only without a task queue."""
    return not getattr(settings, "queue_url", "")


def supervisor_threads(settings: Settings, engine: sa.Engine, *, sync: bool) -> list[Any]:
    """The background threads of the supervisor (none with a task queue)."""
    from dailypapers.index.worker import EmbedWorker
    from dailypapers.jobs import Scheduler, scheduled_jobs

    if not runs_jobs_here(settings):
        return []
    threads: list[Any] = [Scheduler(settings, engine, jobs=scheduled_jobs(sync=sync))]
    if settings.embed_in_background:
        threads.append(EmbedWorker(engine, settings.embedder,
                                   interval=settings.index_interval_seconds))
    return threads


def check_connection_budget(engine: sa.Engine, settings: Settings, processes: int) -> None:
    """Refuse to start when ``processes`` pools could open more connections than PostgreSQL
    accepts: past ``max_connections`` (less the slots kept for superusers) a connection is
    refused at the worst moment, under load. Nothing to check on SQLite."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as conn:
        limit = int(conn.exec_driver_sql("SHOW max_connections").scalar_one())
        reserved = int(conn.exec_driver_sql("SHOW superuser_reserved_connections").scalar_one())
    # Plus the response cache's version listener, outside the pool (db/version_listener.py).
    listener = 1 if settings.cache_bytes > 0 else 0
    per_process = settings.db_pool_size + settings.db_max_overflow + listener
    if processes * per_process > limit - reserved:
        raise ConfigError(
            f"DAILYPAPERS_DB_POOL_SIZE + DAILYPAPERS_DB_MAX_OVERFLOW ({settings.db_pool_size} + "
            f"{settings.db_max_overflow}{' + 1 listener' if listener else ''}) x {processes} "
            f"processes = {processes * per_process} "
            f"connections, more than the PostgreSQL server accepts ({limit} max_connections, "
            f"{reserved} reserved): lower them or --workers, or raise max_connections")


def serve_one(app: Any, sock: Any, *, host: str) -> None:
    """Serve ``app`` in this process on the bound ``sock`` until SIGTERM or SIGINT."""
    interrupted = False
    try:
        # Requests still running SHUTDOWN_GRACE_SECONDS after SIGTERM/SIGINT are cancelled, so
        # a burst of slow requests cannot hold the server up (uvicorn waits forever by default).
        config = uvicorn.Config(app, host=host, port=sock.getsockname()[1], log_level="info",
                                timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
                                # The app sets up logging as it starts (logs.py), in each
                                # process; its access line has the route and the request id.
                                log_config=None, access_log=False)
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # should SIGINT reach us as such after uvicorn's shutdown
        interrupted = True
    _leave_busy_threads(SHUTDOWN_GRACE_SECONDS, 130 if interrupted else 0)
    if interrupted:
        sys.exit(130)


def _leave_busy_threads(grace: float, code: int) -> None:
    """Exit now if request threads are still busy ``grace`` seconds after shutdown.

    A cancelled request's work goes on in its pool thread (Python cannot stop a thread), and
    the interpreter waits for those non-daemon threads before exiting: the server would ignore
    the signal for as long as the slowest request. Their answers have no one to go to."""
    deadline = time.monotonic() + grace
    current = threading.current_thread()
    busy = [t for t in threading.enumerate() if t is not current and not t.daemon]
    for thread in busy:
        thread.join(max(0.0, deadline - time.monotonic()))
    left = [t.name for t in busy if t.is_alive()]
    if left:
        names = ", ".join(sorted(set(left)))
        print(f"Stopping with {len(left)} thread(s) still busy: {names}", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve_workers(sock: Any, *, host: str, workers: int,
                  threads: list[Any]) -> None:
    """Run ``workers`` web processes on the bound ``sock`` until SIGTERM or SIGINT, with
    ``threads`` (:func:`supervisor_threads`) running in this process meanwhile."""
    config = uvicorn.Config(WORKER_APP, factory=True, host=host, port=sock.getsockname()[1],
                            workers=workers, log_level="info",
                            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
                            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
                            log_config=None, access_log=False)
    supervisor = _Supervisor(config, sockets=[sock])
    for thread in threads:
        thread.start()
    try:
        supervisor.run()
    finally:
        for thread in threads:
            thread.stop()


class _Supervisor(Multiprocess):
    """uvicorn's, except that it waits a bounded time for each process to exit: a request thread
    still busy after the grace period (Python cannot stop a thread) would otherwise hold its
    process, and this one, up for as long as that request runs."""

    def join_all(self) -> None:
        for process in self.processes:
            process.process.join(EXIT_WAIT_SECONDS)
            if process.process.is_alive():
                log.warning("web process %s still busy %s s after SIGTERM: killed",
                            process.pid, EXIT_WAIT_SECONDS)
                process.kill()
                process.process.join()
