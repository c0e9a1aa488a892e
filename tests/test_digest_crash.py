"""`dailypapers digest send` killed at random points (SIGKILL, a real process), then run to the
end: every confirmed subscriber ends with exactly one digest for the period. The one allowed
exception: a mail whose SMTP transaction the kill cut after the server took it arrives twice,
with the same Message-ID (one such mail per kill at most). Issue 9's "Done when".

Each trial's sender is started while the previous trial runs and has imported its code by the
time it is told to go: a kill during Python's start-up and imports touched no row, file or
socket (a trial that never ran), so every kill now lands in the sender's own work (settings,
connecting, building the digest, claims, SMTP, marks), and the 20 trials do not wait ~1 s each
for an interpreter to start."""

from __future__ import annotations

import asyncio
import email
import email.policy
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict

import sqlalchemy as sa

from dailypapers.db.schema import digest_outbox, digests
from tests.digest_helpers import feature, sender_env, subscribe, subscribe_many
from tests.mail_helpers import smtp_server

SUBSCRIBERS = 300
KILLS = 20  # the minimum
MAX_TRIALS = 60  # a trial whose sender finished first kills nothing; the next one tries again
MAILS_PER_TRIAL = 12  # at most this many mails go out before a trial's kill, so 20 kills fit
MONDAY = {"2603.00001": 1.0, "2603.00002": 9.0, "2603.00003": 5.0}
ARGS = ["digest", "send", "--period", "daily", "--date", "2026-03-02"]
# `python -m dailypapers ARGS` with its code imported: it says "ready" on stdout (then sends
# its own output nowhere) and starts once a line arrives on stdin (none: it exits untouched).
READY_SENDER = """
import os, sys
from dailypapers.cli import main
import dailypapers.notify.delivery
print("ready", flush=True)
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
sys.stdin.readline() or sys.exit(0)
main(sys.argv[1:], prog_name="dailypapers")
"""


class Sink:
    """An SMTP server that keeps (recipient, Message-ID) of every mail it accepted; a short
    pause in DATA so that kills land inside SMTP transactions too."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(0.002)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.received.append((envelope.rcpt_tos[0], str(message["Message-ID"])))
        return "250 OK"

    def count(self) -> int:
        with self.lock:
            return len(self.received)


def test_killed_digest_sender_loses_nothing_and_duplicates_only_a_cut_transaction(
        db_url, engine, tmp_path):
    feature(engine, tmp_path, "2026-03-02", MONDAY)
    readers = [f"reader{n:03d}@example.org" for n in range(SUBSCRIBERS)]
    subscribe_many(engine, readers)
    for address, state in [("un@example.org", "unconfirmed"), ("gone@example.org", "unsubscribed"),
                           ("bounced@example.org", "suppressed")]:
        subscribe(engine, address, state)

    sink = Sink()
    with smtp_server(sink) as controller:
        env = sender_env(db_url, tmp_path, controller.port, DIGEST_RATE_PER_SECOND="0",
                         DIGEST_LEASE_SECONDS="1", DIGEST_MAX_ATTEMPTS="1000")
        command = [sys.executable, "-m", "dailypapers", *ARGS]
        seed = random.randrange(1 << 30)
        rng = random.Random(seed)
        kills = 0

        def ready() -> subprocess.Popen[bytes]:
            return subprocess.Popen([sys.executable, "-c", READY_SENDER, *ARGS], env=env,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)

        trial = 0
        waiting = ready()
        try:
            while kills < KILLS and trial < MAX_TRIALS:
                before = sink.count()
                child = waiting
                said = child.stdout.readline()  # type: ignore[union-attr]
                assert said == b"ready\n", child.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
                waiting = ready()
                child.stdin.write(b"go\n")  # type: ignore[union-attr]
                child.stdin.close()  # type: ignore[union-attr]
                try:
                    if trial == 0 or rng.random() < 0.2:
                        # Anywhere: start-up, build, claims (~0.1 s from the go, unloaded), the
                        # first mails; but never after a dozen mails, so the period is not sent
                        # out before twenty kills have landed.
                        until = time.monotonic() + rng.uniform(0.0, 0.5)
                        while (time.monotonic() < until and child.poll() is None
                               and sink.count() < before + MAILS_PER_TRIAL):
                            time.sleep(0.001)
                    else:  # in the middle of sending, after a random number of mails
                        target = before + rng.randint(1, MAILS_PER_TRIAL)
                        deadline = time.monotonic() + 30
                        while sink.count() < target and child.poll() is None:
                            assert time.monotonic() < deadline, "the sender stalled"
                            time.sleep(0.001)
                        time.sleep(rng.uniform(0.0, 0.004))
                    if child.poll() is None:
                        child.send_signal(signal.SIGKILL)
                        kills += 1
                finally:
                    child.wait(20)
                    trial += 1
                if child.returncode not in (0, -signal.SIGKILL):
                    raise AssertionError(child.stderr.read().decode()[-2000:])  # type: ignore[union-attr]
        finally:
            waiting.stdin.close()  # type: ignore[union-attr]  (no go: it exits untouched)
            waiting.wait(20)
        final = subprocess.run(command, env=env, capture_output=True, timeout=120)
        assert final.returncode == 0, final.stderr.decode()[-2000:]
        again = subprocess.run(command, env=env, capture_output=True, timeout=120)
        assert again.returncode == 0 and b"0 sent" in again.stdout

    got: dict[str, list[str]] = defaultdict(list)
    for rcpt, message_id in sink.received:
        got[rcpt].append(message_id)
    losses = [r for r in readers if not got.get(r)]
    duplicates = {r: ids for r, ids in got.items() if len(ids) > 1}
    print(f"\ndigest crash test ({engine.dialect.name}, seed {seed}): {kills} kills, "
          f"{len(sink.received)} mails for {SUBSCRIBERS} readers; losses {len(losses)}, "
          f"duplicates {len(duplicates)} (same Message-ID: "
          f"{sum(len(set(ids)) == 1 for ids in duplicates.values())}, copies "
          f"{sorted(len(ids) for ids in duplicates.values())})")
    assert kills >= KILLS
    assert losses == []
    assert set(got) == set(readers)  # nothing for unconfirmed, unsubscribed or suppressed
    # Only the kind a cut transaction makes: the same Message-ID again, one extra copy per kill
    # at most (a mail whose resend was cut again arrives three times).
    assert all(len(set(ids)) == 1 for ids in duplicates.values()), duplicates
    assert sum(len(ids) - 1 for ids in duplicates.values()) <= kills
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(digests)).scalar() == 1
        states = dict(conn.execute(sa.select(digest_outbox.c.state, sa.func.count())
                                   .group_by(digest_outbox.c.state)).all())
    assert states == {"sent": SUBSCRIBERS}
