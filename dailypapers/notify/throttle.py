"""The digest throttle every sender shares: DAILYPAPERS_DIGEST_RATE_PER_SECOND holds across all
sender threads, processes and machines, because its state is one database row (``send_budgets``,
name ``digest``), not a clock in each process.

A sender reserves a few send slots at a time (:func:`reserve`): in one short write transaction it
reads ``next_at`` (the first slot nobody holds), takes ``slots`` slots from ``max(next_at, now)``
on, 1/rate apart, and moves ``next_at`` past them. The row is locked meanwhile (``FOR UPDATE`` on
PostgreSQL; SQLite has one writer), so no two senders ever hold the same slot, and it works on
both databases without Redis. The sender then sends each mail no earlier than its slot.

What follows: in any stretch of time, the mails sent are at most its length × rate, plus the
slots of one reservation per sender that fell behind and sends late. Slots a sender does not use
(it stopped, its batch ran out, the relay failed) are lost, never handed on: the budget can be
undershot, not overshot. An idle budget saves nothing up: after a quiet hour the next slot is
now, not an hour of slots in the past. Times are the database's (``db_now``), so senders on
machines whose clocks disagree still agree on the slots; each turns them into its own monotonic
clock by the offset it saw when it reserved.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections import deque

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from dailypapers.db.engine import db_now, write_transaction
from dailypapers.db.schema import send_budgets

BUDGET = "digest"
# Slots per reservation: a fifth of a second's worth (4 at the default 20/s), so a sender touches
# the row a few times a second and leaves little unused when it stops.
RESERVE_SECONDS = 0.2
MAX_SLOTS = 50


def _aware(stamp: dt.datetime) -> dt.datetime:
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)  # SQLite: UTC


def reserve(conn: Connection, rate: float, slots: int, *, name: str = BUDGET,
            now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """Take the next ``slots`` send slots of budget ``name`` at ``rate`` per second: returns
    (the first slot, the database's now); the others follow 1/rate apart. Call inside a write
    transaction; the caller commits."""
    if rate <= 0 or slots < 1:
        raise ValueError("a reservation needs a positive rate and at least one slot")
    now = now or db_now(conn)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(send_budgets).values(name=name, next_at=now)
                 .on_conflict_do_nothing(index_elements=["name"]))
    query = sa.select(send_budgets.c.next_at).where(send_budgets.c.name == name)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    first = max(_aware(conn.execute(query).scalar_one()), now)
    conn.execute(send_budgets.update().where(send_budgets.c.name == name).values(
        next_at=first + dt.timedelta(seconds=slots / rate)))
    return first, now


class SharedThrottle:
    """:meth:`wait` before each mail: returns at this sender's next reserved slot. Rate 0: no
    limit (and no database round trip)."""

    def __init__(self, engine: Engine, rate: float, *, name: str = BUDGET) -> None:
        self.engine, self.rate, self.name = engine, rate, name
        self.slots_per_reservation = max(1, min(MAX_SLOTS, math.ceil(rate * RESERVE_SECONDS)))
        self.slots: deque[float] = deque()  # reserved slots on time.monotonic()

    def wait(self, stop: threading.Event | None = None) -> None:
        if self.rate <= 0:
            return
        if not self.slots:
            self._reserve()
        delay = self.slots.popleft() - time.monotonic()
        if delay > 0:
            (stop.wait if stop else time.sleep)(delay)

    def _reserve(self) -> None:
        k = self.slots_per_reservation
        with write_transaction(self.engine, changes=None) as conn:
            first, now = reserve(conn, self.rate, k, name=self.name)
        # Mapped after the commit: a slot is then never earlier here than on the database.
        start = time.monotonic() + (first - now).total_seconds()
        self.slots.extend(start + n / self.rate for n in range(k))
