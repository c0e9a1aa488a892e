"""What `dailypapers jobs` and /admin/jobs show: the jobs' names, a last run as text, one line
on the one-off mails the workers send, one line on the queue."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dailypapers.settings import Settings, safe_queue_url


def job_names(settings: Settings) -> list[str]:
    from dailypapers.jobs import scheduled_jobs
    from dailypapers.queue import queued_jobs

    jobs = queued_jobs(settings) if settings.queue_url else scheduled_jobs()
    return [job.name for job in jobs]


def _stamp(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:  # SQLite hands back UTC without its zone
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def last_run_text(row: Any) -> str:
    if row.last_started is None:
        return "never"
    text = f"{row.last_outcome}: started {_stamp(row.last_started)}"
    if row.last_finished is not None:
        text += f", ended {_stamp(row.last_finished)}"
    if row.last_error:
        text += f" ({row.last_error[:120]})"
    return text


def mail_line(conn: Any) -> str:
    """The one-off mails (resets, confirmations) queued for the workers: notify/queued_mail.py."""
    from dailypapers.notify.queued_mail import summary

    mails = summary(conn)
    text = (f"Queued mails: {mails.waiting} waiting; in the last day {mails.sent} sent, "
            f"{mails.failed} failed")
    if mails.oldest_waiting is not None:
        text += f"; the oldest waiting since {_stamp(mails.oldest_waiting)}"
    return text


def queue_line(settings: Settings) -> tuple[str, bool]:
    """One line on what the queue holds, and whether it answered."""
    from dailypapers.queue import QueueUnreachable, queue_depth

    if not settings.queue_url:
        return ("Queue: none (DAILYPAPERS_QUEUE_URL is empty): `serve` runs the jobs on a thread "
                "(its syncs, not slotted there, are in `dailypapers status`)", True)
    try:
        depth = queue_depth(settings)
    except QueueUnreachable as exc:
        return f"Queue: {exc}", False
    return (f"Queue {safe_queue_url(settings.queue_url)}: {depth.waiting} waiting, "
            f"{depth.delayed} waiting to retry, {depth.held} held in all, "
            f"{depth.dead} given up"), True
