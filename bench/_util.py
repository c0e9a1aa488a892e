"""Shared bits for benchmark scripts: timing, percentiles, the headline line, exit status."""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# As the server runs (dailypapers/__init__.py): one BLAS thread. Import this module before numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DAILYPAPERS_SHARED_DATA", REPO.parent / "shared" / "data"))
sys.path.insert(0, str(REPO))


class Timer:
    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values)


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def headline(name: str, value: float, unit: str, target: str, ok: bool) -> None:
    """Print the one closing line and exit non-zero when the target is missed."""
    print(f"{name}: {value:.4g} {unit} (target {target}){'' if ok else ' MISSED'}")
    sys.exit(0 if ok else 1)


def corpus_files(limit_files: int | None = None) -> tuple[list[Path], list[Path]]:
    """(hf-daily's files, the arXiv OAI-PMH pages), the first ``limit_files`` of each."""
    hf_files = sorted((SHARED_DATA / "hf-daily").glob("*.json"))
    oai_files = sorted((SHARED_DATA / "arxiv" / "oai-pmh-cs-2016").glob("*.gz"))
    if limit_files:
        hf_files, oai_files = hf_files[:limit_files], oai_files[:limit_files]
    return hf_files, oai_files


def papers_in(paths: list[Path]) -> Iterator[Any]:
    """The paper records these files hold, as the import parses them (refusals skipped)."""
    from dailypapers.ingest.files import iter_file
    from dailypapers.ingest.records import ParsedItem

    for path in paths:
        for item in iter_file(path):
            if isinstance(item, ParsedItem):
                yield item.paper


@contextlib.contextmanager
def throwaway_database(admin_url: str, name: str) -> Iterator[str]:
    """A new PostgreSQL database ``name`` on ``admin_url``'s server (its URL), dropped after."""
    url = create_database(admin_url, name)
    try:
        yield url
    finally:
        drop_database(admin_url, name)


def create_database(admin_url: str, name: str) -> str:
    """A new PostgreSQL database ``name`` on ``admin_url``'s server: its URL."""
    import sqlalchemy as sa

    _admin_run(admin_url, f'CREATE DATABASE "{name}"')
    return sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    _admin_run(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin_run(admin_url: str, statement: str) -> None:
    from dailypapers.db.engine import make_engine

    admin = make_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(statement)
    finally:
        admin.dispose()
