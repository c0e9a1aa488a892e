"""The serving process's index keeper: catch up with the database by watermark, embed what is new.

Runs in one background thread: keyword updates are cheap; embedding runs at most one batch at a
time on one core (onnxruntime releases the GIL), so pages and keyword search keep answering.
Papers that a separate ``dailypapers import`` adds are searchable by keyword within one
interval (10 s by default) and by meaning once embedded. When the collection grows past
``ann_min_vectors``, the approximate vector graph is built (or, when another process of the node
saved one that fits, mapped) in a thread of its own (minutes for a large collection, on one
core; waiting there while another process builds it), so catching up never waits for it.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.engine import Engine

from dailypapers.index.embedder import Embedder
from dailypapers.index.search import SearchService
from dailypapers.index.vectors import embed_pending
from dailypapers.jobs import BackgroundThread

log = logging.getLogger("dailypapers.index")


class IndexWorker(BackgroundThread):
    thread_name = "dailypapers-index"

    def __init__(self, service: SearchService, *, interval: float = 10.0, embed: bool = True) -> None:
        super().__init__()
        self.service = service
        self.interval = interval
        self.embed = embed
        self.cycles = 0
        self._graph_builder: threading.Thread | None = None

    def run_once(self) -> int:
        """One cycle: catch up, then embed until nothing is pending (or we are stopped)."""
        self.service.catch_up()
        self._maybe_build_graph()
        embedded = 0
        if self.embed:
            while not self._stop.is_set():
                done = self.service.embed_some(stop=self._stop, max_batches=4)
                embedded += done
                if not done:
                    break
                self.service.catch_up()  # new papers become keyword-searchable meanwhile
                self._maybe_build_graph()  # a long backlog may cross the threshold
        self.cycles += 1
        return embedded

    def _maybe_build_graph(self) -> None:
        if self._graph_builder is not None and self._graph_builder.is_alive():
            return
        if not self.service.vectors.needs_graph():
            return
        self._graph_builder = threading.Thread(
            target=self._build_graph, name="dailypapers-vector-graph", daemon=True)
        self._graph_builder.start()

    def _build_graph(self) -> None:
        try:
            self.service.build_graph()
        except Exception:  # the exact scan keeps answering; the next cycle retries
            log.exception("building the vector graph failed")

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                embedded = self.run_once()
                if embedded:
                    log.info("embedded %d papers", embedded)
            except Exception:  # keep serving: the next cycle retries
                log.exception("index update failed")
            self._stop.wait(self.interval)


class EmbedWorker(BackgroundThread):
    """Embedding alone, for the supervisor of ``serve --workers``: it serves no search, so it
    loads neither index (the vector matrix and its graph would be a copy no one reads); the web
    processes pick the new vectors up from ``paper_embeddings`` at their next catch-up."""

    thread_name = "dailypapers-embed"

    def __init__(self, engine: Engine, embedder: Embedder | str, *, interval: float = 10.0) -> None:
        super().__init__()
        self.engine = engine
        self._embedder = embedder
        self.interval = interval
        self.embedded = 0

    @property
    def embedder(self) -> Embedder:
        if isinstance(self._embedder, str):  # loaded in the thread: start-up does not wait
            from dailypapers.index.embedder import get_embedder

            self._embedder = get_embedder(self._embedder)
        return self._embedder

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                done = embed_pending(self.engine, self.embedder, stop=self._stop)
                self.embedded += done
                if done:
                    log.info("embedded %d papers", done)
            except Exception:  # the database is down, say: the next cycle retries
                log.exception("embedding failed")
            self._stop.wait(self.interval)
