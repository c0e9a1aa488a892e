"""Shared bits for benchmark scripts: timing, percentiles, the headline line, exit status."""

from __future__ import annotations

import os
import resource
import statistics
import sys
import time
from pathlib import Path

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
