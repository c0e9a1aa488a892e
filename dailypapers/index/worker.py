"""The serving process's index keeper: catch up with the database by watermark, embed what is new.

Runs in one background thread: keyword updates are cheap; embedding runs at most one batch at a
time on one core (onnxruntime releases the GIL), so pages and keyword search keep answering.
Papers that a separate ``dailypapers import`` adds are searchable by keyword within one
interval (10 s by default) and by meaning once embedded.
"""

from __future__ import annotations

import logging
import threading

from dailypapers.index.search import SearchService

log = logging.getLogger("dailypapers.index")


class IndexWorker:
    def __init__(self, service: SearchService, *, interval: float = 10.0, embed: bool = True) -> None:
        self.service = service
        self.interval = interval
        self.embed = embed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.cycles = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="dailypapers-index", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_once(self) -> int:
        """One cycle: catch up, then embed until nothing is pending (or we are stopped)."""
        self.service.catch_up()
        embedded = 0
        if self.embed:
            while not self._stop.is_set():
                done = self.service.embed_some(stop=self._stop, max_batches=4)
                embedded += done
                if not done:
                    break
                self.service.catch_up()  # new papers become keyword-searchable meanwhile
        self.cycles += 1
        return embedded

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                embedded = self.run_once()
                if embedded:
                    log.info("embedded %d papers", embedded)
            except Exception:  # keep serving: the next cycle retries
                log.exception("index update failed")
            self._stop.wait(self.interval)
