"""DAILYPAPERS_DIGEST_RATE_PER_SECOND holds across sender processes, not per process (the scale-out
issue: "the digests' messages-per-second budget holds across all workers"): two real
`dailypapers digest send` processes, one SMTP sink that notes when each mail arrives."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
import time


from dailypapers.db.engine import write_transaction
from dailypapers.db.schema import digest_outbox
from dailypapers.notify import outbox
from tests.digest_helpers import BASE, feature, sender_env, subscribe_many
from tests.mail_helpers import smtp_server

RATE = 20  # mails per second, for both processes together
MAILS = 70  # 69 gaps of 1/20 s: at least 3.45 s; two processes at 20/s each would need 1.7 s
HELD_SECONDS = 5  # time for both processes to start
RESERVED = 4  # slots a sender takes at a time at 20/s (notify/throttle.py: a fifth of a second)


class Arrivals:
    def __init__(self) -> None:
        self.seen: list[tuple[float, str, tuple]] = []  # (when, recipient, client's address)
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.seen.append((time.monotonic(), envelope.rcpt_tos[0], tuple(session.peer)))
        return "250 OK"


def test_two_sender_processes_share_one_rate(db_url, engine, tmp_path):
    feature(engine, tmp_path, "2026-03-02", {"2603.00001": 1.0, "2603.00002": 2.0})
    readers = [f"reader{n:03d}@example.org" for n in range(MAILS)]
    subscribe_many(engine, readers)
    with write_transaction(engine) as conn:  # built before: both processes go straight to sending
        outbox.build(conn, "daily", outbox.target_period(conn, "daily", dt.date(2026, 3, 2),
                                                          dt.date(2026, 3, 10)),
                     base_url=BASE, sender_domain="papers.example.org", search=None)
        # Held back (as a retry's backoff holds a row) until both processes are up, so they
        # send side by side rather than one after the other.
        conn.execute(digest_outbox.update().values(
            lease_until=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=HELD_SECONDS)))
    sink = Arrivals()
    with smtp_server(sink) as controller:
        # A lease of 2 s: 20 rows a claim (half a lease at the rate), so both processes get some.
        env = sender_env(db_url, tmp_path, controller.port, DIGEST_RATE_PER_SECOND=str(RATE),
                         DIGEST_LEASE_SECONDS="2")
        command = [sys.executable, "-m", "dailypapers", "digest", "send", "--period", "daily",
                   "--date", "2026-03-02"]
        senders = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE) for _ in range(2)]
        for sender in senders:
            _out, err = sender.communicate(timeout=120)
            assert sender.returncode == 0, err.decode()[-2000:]

    times = sorted(when for when, _rcpt, _peer in sink.seen)
    assert sorted(rcpt for _when, rcpt, _peer in sink.seen) == readers  # each exactly once
    assert len({peer for _when, _rcpt, peer in sink.seen}) == 2  # both processes sent
    elapsed = times[-1] - times[0]
    busiest = max(sum(1 for later in times if start <= later < start + 1.0) for start in times)
    print(f"\n{engine.dialect.name}: {MAILS} mails from 2 processes in {elapsed:.2f} s, "
          f"at most {busiest} in one second (budget {RATE}/s)")
    assert elapsed >= 0.8 * (MAILS - 1) / RATE
    # One second holds the rate, plus at most one reservation per sender sent late.
    assert busiest <= RATE + 2 * RESERVED
