"""Embedding on several cores: ``dailypapers reindex --processes N``.

The model runs on one thread per process (embedder.py: onnxruntime's own threads gain little on
these small batches), so more cores need more processes. Each one claims its batches
(``embed_pending`` → ``embed_claims``) and embeds different papers; this process is one of
them, the others are spawned (a fresh interpreter each: ~1 s and the model's 0.3 s load, paid
once). Measured by bench/embed_scale.py.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from sqlalchemy.engine import Engine

from dailypapers.db.engine import read_transaction
from dailypapers.index.embedder import get_embedder
from dailypapers.index.vectors import embed_pending, pending

PER_HELPER = 100  # papers waiting per process started, at least


def embed_in_processes(engine: Engine, url: str, engine_options: dict[str, Any], spec: str,
                       processes: int = 1,
                       on_batch: Callable[[int], None] | None = None) -> int:
    """Embed every paper without a current vector with ``processes`` processes (this one
    included); returns how many were embedded in all. ``on_batch`` sees this process's
    batches."""
    embedder = get_embedder(spec)
    with read_transaction(engine) as conn:
        backlog = len(pending(conn, embedder.name, PER_HELPER * processes))
    # A helper costs ~1.5 s to start (≈ 40 abstracts): none for a small backlog.
    processes = max(1, min(processes, backlog // PER_HELPER))
    if processes <= 1:
        return embed_pending(engine, embedder, on_batch=on_batch)
    context = multiprocessing.get_context("spawn")  # no forked copy of this process's pools
    with ProcessPoolExecutor(processes - 1, mp_context=context) as pool:
        helpers = [pool.submit(_embed_alone, url, engine_options, spec)
                   for _ in range(processes - 1)]
        done = embed_pending(engine, embedder, on_batch=on_batch)
        return done + sum(helper.result() for helper in helpers)


def _embed_alone(url: str, engine_options: dict[str, Any], spec: str) -> int:
    from dailypapers.db.engine import make_engine

    engine = make_engine(url, **engine_options)
    try:
        return embed_pending(engine, get_embedder(spec))
    finally:
        engine.dispose()
