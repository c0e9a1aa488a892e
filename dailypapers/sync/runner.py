"""``run_sync``: one pass over every upstream, each source in its own recorded run.

A source that fails (upstream down, bad answers, a stop request) is recorded as a ``failed`` run
with its error, and the next source still runs. Nothing raises out of ``run_sync`` for upstream
trouble; KeyboardInterrupt is recorded and re-raised.
"""

from __future__ import annotations

import datetime as dt
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from dailypapers.db import data_version
from dailypapers.db.engine import write_transaction
from dailypapers.ingest.media import MediaCounts, fetch_media
from dailypapers.ingest.service import Counts, finish_run, start_run
from dailypapers.settings import Settings
from dailypapers.sync.arxiv import sync_arxiv
from dailypapers.sync.base import Log, SourceContext, describe_counts
from dailypapers.sync.hf import sync_hf
from dailypapers.sync.http import PoliteClient, Stopped, UpstreamError, safe_url

SOURCES: dict[str, Callable[[SourceContext], None]] = {"hf": sync_hf, "arxiv": sync_arxiv}
INTERRUPTED = "interrupted before the cycle finished; the next sync resumes where this one stopped"


@dataclass
class SourceReport:
    name: str
    status: str = "skipped"  # ok | failed | skipped
    counts: Counts = field(default_factory=Counts)
    pages: int = 0
    requests: int = 0
    error: str | None = None
    run_id: int | None = None


@dataclass
class SyncReport:
    sources: dict[str, SourceReport] = field(default_factory=dict)
    media: MediaCounts | None = None  # None: the step did not run (media=False)

    @property
    def ok(self) -> bool:
        return all(s.status == "ok" for s in self.sources.values())

    @property
    def errors(self) -> list[str]:
        return [
            f"{s.name}: {s.error or s.status}" for s in self.sources.values() if s.status != "ok"
        ]

    @property
    def counts(self) -> dict[str, Counts]:
        return {name: s.counts for name, s in self.sources.items()}


def run_sync(
    settings: Settings,
    engine: Engine,
    *,
    log: Log = print,
    stop: threading.Event | None = None,
    now: dt.datetime | None = None,
    sources: Iterable[str] | None = None,
    backoff_base: float | None = None,
    media: bool = False,
) -> SyncReport:
    """Fetch what is new from each upstream (default: Hugging Face, then arXiv).

    ``now`` fixes "today" (UTC) for the backfill and refresh windows. ``backoff_base`` is the
    first retry delay in seconds (default ``settings.sync_backoff_seconds`` when that setting
    exists, else 1 s). ``media`` then fetches up to ``media_fetch_max`` thumbnails and avatars
    (ingest/media.py): its trouble is logged per image and never fails the sync.
    """
    stop = stop or threading.Event()
    now = now or dt.datetime.now(dt.timezone.utc)
    if now.tzinfo is not None:
        now = now.astimezone(dt.timezone.utc)
    today = now.date()
    names = list(sources) if sources is not None else list(SOURCES)
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        raise ValueError(f"unknown sync source(s): {', '.join(unknown)}")
    if backoff_base is None:
        backoff_base = settings.sync_backoff_seconds
    report = SyncReport()
    with PoliteClient(settings, stop=stop, log=log, backoff_base=backoff_base) as client:
        for name in names:
            source = SourceReport(name)
            report.sources[name] = source
            if stop.is_set():
                source.error = "not started: stop requested"
                continue
            _run_source(settings, engine, client, log, today, source)
    if media and not stop.is_set():
        try:
            report.media = fetch_media(settings, engine, log=log, stop=stop)
        except Exception as exc:  # the database or the disk: say so, the papers are in
            log(f"media: failed: {type(exc).__name__}: {exc}")
    log(
        "sync: " + "; ".join(
            f"{s.name} {s.status} ({describe_counts(s.counts)}, {s.requests} request(s))"
            for s in report.sources.values()
        )
    )
    return report


def _run_source(
    settings: Settings,
    engine: Engine,
    client: PoliteClient,
    log: Log,
    today: dt.date,
    source: SourceReport,
) -> None:
    label = f"sync:{source.name}"
    upstream = settings.hf_base_url if source.name == "hf" else (
        settings.arxiv_api_url if settings.arxiv_method == "api" else settings.arxiv_oai_url
    )
    try:
        with write_transaction(engine, changes=None) as conn:  # a running run shows nowhere
            source.run_id = start_run(conn, label, detail=safe_url(upstream))
    except Exception as exc:  # the database, not the upstream: say so and go on
        source.status = "failed"
        source.error = f"could not record the run: {type(exc).__name__}: {exc}"
        log(f"{source.name}: {source.error}")
        return
    ctx = SourceContext(
        settings=settings, engine=engine, client=client, log=log, today=today,
        run_id=source.run_id,
    )
    requests_before = client.requests
    error: str | None = None
    try:
        SOURCES[source.name](ctx)
    except Stopped:
        error = INTERRUPTED
    except UpstreamError as exc:
        error = str(exc)
    except Exception as exc:  # a bug or a database error: record it, keep the other source going
        error = f"{type(exc).__name__}: {exc}"
        log(traceback.format_exc().rstrip())
    except BaseException:
        _finish(engine, source, "failed", "interrupted (KeyboardInterrupt)", log)
        raise
    finally:
        source.counts = ctx.counts
        source.pages = ctx.pages
        source.requests = client.requests - requests_before
    if error is None:
        _finish(engine, source, "ok", None, log)
    else:
        log(f"{source.name}: failed: {error}")
        _finish(engine, source, "failed", error, log)


def _finish(
    engine: Engine, source: SourceReport, status: str, error: str | None, log: Log
) -> None:
    source.status = status
    source.error = error
    if source.run_id is None:
        return
    try:
        # Only an ok run that stored something moves a public answer ("Data last updated").
        with write_transaction(engine, changes="data" if status == "ok" else None) as conn:
            if not finish_run(conn, source.run_id, status=status, error=error):
                data_version.unchanged(conn)
    except Exception as exc:
        log(f"{source.name}: could not record the end of run {source.run_id}: {exc}")
        if status == "ok":
            source.status = "failed"
            source.error = f"could not record the end of the run: {type(exc).__name__}: {exc}"

