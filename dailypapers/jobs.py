"""Background work in the embedded mode: one thread that runs the live sync on a schedule.

A sync that fails (an upstream down, a bad answer) is logged and retried at the next tick; the
site keeps serving what it has.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.engine import Engine

from dailypapers.settings import Settings

log = logging.getLogger("dailypapers.jobs")


class BackgroundThread:
    """A daemon thread with a stop event: started with the app, stopped with it."""

    thread_name = "dailypapers-job"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        # A short wait: the thread is a daemon, so exit does not wait for it anyway, and the
        # server should stop within seconds of SIGTERM (an embedding batch takes ~2 s).
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        raise NotImplementedError


class Scheduler(BackgroundThread):
    thread_name = "dailypapers-sync"

    def __init__(self, settings: Settings, engine: Engine, *, first_delay: float = 5.0):
        super().__init__()
        self.settings = settings
        self.engine = engine
        self.first_delay = first_delay
        self.runs = 0

    def _loop(self) -> None:
        from dailypapers.sync.runner import run_sync

        delay = self.first_delay
        while not self._stop.wait(delay):
            try:
                report = run_sync(self.settings, self.engine, log=log.info, stop=self._stop,
                                  media=True)
                if not report.ok:
                    log.warning("sync finished with errors: %s", "; ".join(report.errors))
            except Exception:  # keep serving whatever happens upstream
                log.exception("sync failed")
            self.runs += 1
            delay = self.settings.sync_interval_minutes * 60
