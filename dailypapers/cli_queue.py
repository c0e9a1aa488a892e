"""`dailypapers worker`, `scheduler` and `jobs`: the task queue's commands (queue.py), thin."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

import click

from dailypapers.settings import Settings, get_settings, safe_queue_url


def _stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT: the command finishes its current work and exits 0."""
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def _logging(settings: Settings) -> None:
    """Log lines as `serve`'s (DAILYPAPERS_LOG_FORMAT), and task failures counted into the
    machine's metrics folder, which `/metrics` adds up."""
    from dailypapers.logs import configure
    from dailypapers.metrics import use_multiprocess_dir

    configure(settings.log_format)
    use_multiprocess_dir(settings)


def _queue_settings() -> Settings:
    from dailypapers.queue import QueueNotSet, QueueUnreachable, check_queue, require_queue

    settings = get_settings()
    try:
        require_queue(settings)
        check_queue(settings)
    except (QueueNotSet, QueueUnreachable) as exc:
        raise click.ClickException(str(exc)) from None
    return settings


def install(main: click.Group, engine_for: Any) -> None:
    """Add the commands to ``main``; ``engine_for(settings)``: a migrated engine."""

    @main.command()
    @click.option("--threads", default=1, show_default=True, type=click.IntRange(1, 64),
                  help="Tasks this process runs at once (run more processes for more cores).")
    def worker(threads: int) -> None:
        """Run queued tasks (scheduled jobs, digest mails, embedding) until SIGTERM; needs
        DAILYPAPERS_QUEUE_URL. Start as many as you like, on any machine."""
        from dailypapers.queue import run_worker

        settings = _queue_settings()
        engine = engine_for(settings)
        _logging(settings)
        click.echo(f"Worker on {safe_queue_url(settings.queue_url)}, {threads} thread(s)")
        run_worker(settings, engine, _stop_on_signals(), threads=threads)

    @main.command()
    def scheduler() -> None:
        """Enqueue each scheduled job once per slot (several schedulers may run: each slot is
        claimed once in the database) until SIGTERM; needs DAILYPAPERS_QUEUE_URL."""
        from dailypapers.queue import queued_jobs, run_scheduler

        settings = _queue_settings()
        engine = engine_for(settings)
        _logging(settings)
        names = ", ".join(job.name for job in queued_jobs(settings))
        click.echo(f"Scheduler on {safe_queue_url(settings.queue_url)}: {names}")
        run_scheduler(settings, engine, _stop_on_signals())

    @main.command()
    def jobs() -> None:
        """Per scheduled job: slots queued, running and failed, and the last run; then the
        one-off mails queued for the workers and what the queue holds. Exit 1 when the queue does not answer."""
        from dailypapers.db.engine import read_transaction
        from dailypapers.job_runs import summaries
        from dailypapers.job_status import job_names, last_run_text, mail_line, queue_line

        settings = get_settings()
        engine = engine_for(settings)
        with read_transaction(engine) as conn:
            rows = summaries(conn, job_names(settings))
            mails = mail_line(conn)
        click.echo(f"{'job':<14} {'queued':>6} {'running':>7} {'failed':>6}  last run")
        for row in rows:
            click.echo(f"{row.job:<14} {row.queued:>6} {row.running:>7} {row.failed:>6}  "
                       f"{last_run_text(row)}")
        click.echo(mails)
        line, ok = queue_line(settings)
        click.echo(line)
        if not ok:
            sys.exit(1)
