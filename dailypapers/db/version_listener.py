"""Pushes of the data version to a web process (PostgreSQL only), so that a cache hit needs no
round trip to learn that nothing changed.

Every write transaction that moves a data version also says ``NOTIFY dailypapers_data_version``
(db/data_version.py's ``bump``), which PostgreSQL delivers to every listening connection when,
and only if, the transaction commits. One thread per web process (:class:`VersionListener`)
holds a connection that LISTENs and counts what arrives in ``generation``; it also counts its
own (re)connections and losses. web/cache.py's ``VersionReader`` then reads the version from
the database only when ``generation`` (or this process's own commits,
``data_version.local_writes``) moved since its last read, or while the listener is not
connected: a read is trusted only if no notification arrived between its start and its end.

The bound: a write committed by another process shows in this process's cached answers once its
notification has reached the listener thread, not at its commit. That delay is the loopback
delivery plus the thread's wait for the GIL: well under a millisecond idle, a few milliseconds
on busy cores (Python hands the GIL over every 5 ms). A request from a visitor who made the
write is signed in, and signed-in answers are never cached; a write by this process counts at
once (``local_writes``). While the listener is down (PostgreSQL restarted, the connection
dropped), every request reads the version as it did before, and the listener reconnects every
``RETRY_SECONDS``.

A votes notification names the papers whose counts changed; the thread records them in
``data_version.VOTE_LOG``, which lets a cached answer be checked without a query while the
connection lasts (``connections`` tells when it did not).
"""

from __future__ import annotations

import logging

import psycopg
from sqlalchemy.engine import Engine

from dailypapers.db import data_version
from dailypapers.jobs import BackgroundThread

CHANNEL = data_version.CHANNEL
RETRY_SECONDS = 1.0
# How often the thread looks at its stop event between notifications: the app's stop waits for
# it (at 1 s every PostgreSQL app took ~0.9 s to stop, in each test and at each SIGTERM); a wait
# that times out is a select() on the socket, nothing sent to the server.
WAIT_SECONDS = 0.1
CONNECT_TIMEOUT_SECONDS = 5

log = logging.getLogger("dailypapers.cache")


class VersionListener(BackgroundThread):
    """The LISTEN thread of one web process: started and stopped with the app."""

    thread_name = "dailypapers-versions"

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False)
        # Moves on each notification, connection and loss; only this thread writes it.
        self.generation = 0
        self.connected = False
        # Moves on each connection: the vote log is complete within one (web/cache.py).
        self.connections = 0

    def _loop(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True,
                                     connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    # Listening from here on: reads that start now may be trusted.
                    self.generation += 1
                    self.connections += 1
                    self.connected = True
                    if failing:
                        log.info("version listener connected again")
                    failing = False
                    while not self._stop.is_set():
                        for notify in conn.notifies(timeout=WAIT_SECONDS):
                            voted = data_version.parse_voted(notify.payload)
                            if voted:  # before the generation: a reader then sees both
                                data_version.VOTE_LOG.record(voted)
                            self.generation += 1
            except psycopg.Error as exc:
                if not failing:  # once per outage, not once per retry
                    log.warning("version listener lost (%s): every request reads the version "
                                "until it is back", type(exc).__name__)
                failing = True
            finally:
                self.connected = False
                self.generation += 1
            self._stop.wait(RETRY_SECONDS)
