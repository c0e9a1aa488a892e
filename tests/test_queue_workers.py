"""Issue 12's "Done when" for the queue: two `dailypapers worker` processes and two schedulers on
PostgreSQL and Redis (loopback, a key prefix of this test's own), with a sync every 2 s against
a fake upstream, a daily digest for 60 readers and papers to embed:
- each scheduled slot runs exactly once (a sync run is an ``ingest_runs`` row of its own: one per
  attempt, and one attempt per slot but the killed one);
- a worker SIGKILLed in the middle of a sync: that slot is run again to the end by the other;
- the digest, sent by both workers at once (two SMTP connections), reaches each reader once;
- the papers get their vectors from the workers' embedding tasks."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import redis
import sqlalchemy as sa

from dailypapers.db.engine import make_engine
from dailypapers.db.schema import digest_outbox, ingest_runs, job_slots, metadata, paper_embeddings
from tests.conftest import REPO, TEST_SECRET_KEY
from tests.digest_helpers import BASE, feature, subscribe_many
from tests.fake_upstream import ATOM_PATH, HF_PATH, OAI_PATH, Fault, FakeUpstream
from tests.mail_helpers import smtp_server
from tests.test_queue import REDIS, redis_or_skip

READERS = 60
PAPERS = {f"2603.{n:05d}": float(n) for n in range(1, 7)}
SYNC_SECONDS = 2


class Sink:
    """Keeps (recipient, Message-ID, client connection) of each mail; 100 ms per mail, so one
    sender alone would take 6 s and the other worker has time to join."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, tuple]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(0.1)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.received.append((envelope.rcpt_tos[0], str(message["Message-ID"]),
                                  tuple(session.peer)))
        return "250 OK"


def wait_for(what: str, check, timeout: float = 60.0, procs=()):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        for proc in procs:
            assert proc.poll() is None, f"{proc.args} exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def sync_slots(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.select(job_slots).where(job_slots.c.job == "sync")
                            .order_by(job_slots.c.slot)).all()


def test_two_workers_and_two_schedulers_run_each_slot_once_recover_a_killed_task_and_mail_once(
        postgres_url, tmp_path: Path) -> None:
    redis_or_skip()
    engine = make_engine(postgres_url)
    with engine.begin() as conn:
        tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    feature(engine, tmp_path, "2026-03-02", PAPERS)
    readers = [f"reader{n:02d}@example.org" for n in range(READERS)]
    subscribe_many(engine, readers)
    (tmp_path / "upstream").mkdir()
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    sink = Sink()
    procs: list[subprocess.Popen] = []
    logs: list[Path] = []

    def start(command: str, n: int) -> subprocess.Popen:
        log = tmp_path / f"{command}{n}.log"
        logs.append(log)
        proc = subprocess.Popen([sys.executable, "-m", "dailypapers", command], env=env,
                                stdout=log.open("w"), stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    with smtp_server(sink) as smtp, \
            FakeUpstream(tmp_path / "upstream", atom_files=[], oai_pages=0) as fake:
        env = {**os.environ, "PYTHONPATH": str(REPO), "DAILYPAPERS_DATABASE_URL": postgres_url,
               "DAILYPAPERS_DATA_DIR": str(tmp_path), "DAILYPAPERS_SECRET_KEY": TEST_SECRET_KEY,
               "DAILYPAPERS_QUEUE_URL": REDIS, "DAILYPAPERS_QUEUE_PREFIX": prefix,
               "DAILYPAPERS_QUEUE_DEAD_WORKER_SECONDS": "2", "DAILYPAPERS_JOB_LEASE_SECONDS": "3",
               "DAILYPAPERS_QUEUE_RETRY_SECONDS": "0.2",
               "DAILYPAPERS_SYNC_INTERVAL_MINUTES": str(SYNC_SECONDS / 60),
               "DAILYPAPERS_HF_BASE_URL": fake.url,
               "DAILYPAPERS_ARXIV_API_URL": fake.url + ATOM_PATH,
               "DAILYPAPERS_ARXIV_OAI_URL": fake.url + OAI_PATH,
               "DAILYPAPERS_SYNC_MIN_INTERVAL_SECONDS": "0", "DAILYPAPERS_SYNC_MAX_RETRIES": "0",
               "DAILYPAPERS_SYNC_TIMEOUT_SECONDS": "20", "DAILYPAPERS_MEDIA_FETCH_MAX": "0",
               "DAILYPAPERS_DIGEST_TIME": "00:00", "DAILYPAPERS_DIGEST_TIMEZONE": "UTC",
               "DAILYPAPERS_BASE_URL": BASE, "DAILYPAPERS_MAIL_BACKEND": "smtp",
               "DAILYPAPERS_MAIL_SMTP_HOST": "127.0.0.1",
               "DAILYPAPERS_MAIL_SMTP_PORT": str(smtp.port),
               "DAILYPAPERS_MAIL_SMTP_SECURITY": "none",
               "DAILYPAPERS_MAIL_FROM": "Daily Papers <digest@papers.example.org>",
               "DAILYPAPERS_DIGEST_RATE_PER_SECOND": "0"}
        try:
            workers = [start("worker", 1), start("worker", 2)]
            start("scheduler", 1)
            start("scheduler", 2)

            def mails_sent() -> bool:
                with engine.connect() as conn:
                    states = dict(conn.execute(sa.select(digest_outbox.c.state, sa.func.count())
                                               .group_by(digest_outbox.c.state)).all())
                return states == {"sent": READERS}

            wait_for("the digest", mails_sent, procs=procs)
            wait_for("three finished syncs",
                     lambda: sum(r.finished_at is not None for r in sync_slots(engine)) >= 3,
                     procs=procs)
            # The next sync's first request hangs: SIGKILL the worker running that sync.
            hanging = threading.Event()
            fake.on_request(lambda rec: rec.path == HF_PATH and hanging.set())
            hanging.clear()
            fake.add_fault(HF_PATH, Fault.delay(20), times=1)
            wait_for("the hanging request", hanging.is_set, procs=procs)
            time.sleep(2.0)  # any other sync (a quick one) has ended by now; this one hangs
            stuck = wait_for("the sync stuck in its request", lambda: min(
                (r for r in sync_slots(engine) if r.finished_at is None and r.outcome is None
                 and r.started_at is not None), key=lambda r: r.started_at, default=None),
                procs=procs)
            victim = next(w for w in workers if stuck.runner.endswith(f":{w.pid}"))
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            procs.remove(victim)
            survivor = next(w for w in workers if w is not victim)

            def redone():
                row = next(r for r in sync_slots(engine) if r.slot == stuck.slot)
                return row if row.finished_at is not None else None

            row = wait_for("the killed slot run to the end", redone, procs=procs)
            assert (row.outcome, row.attempts) == ("ok", 2)
            assert row.runner.endswith(f":{survivor.pid}")
            wait_for("two more syncs", lambda: sum(
                r.finished_at is not None and r.slot > stuck.slot for r in sync_slots(engine))
                >= 2, procs=procs)
            for proc in [p for p in procs if p not in workers]:
                proc.send_signal(signal.SIGTERM)  # the schedulers first: nothing new comes
                assert proc.wait(20) == 0
            wait_for("every claimed slot finished", lambda: all(
                r.finished_at is not None for r in sync_slots(engine)), procs=[survivor])
            with engine.connect() as conn:
                embedded = conn.execute(sa.select(sa.func.count(
                    sa.distinct(paper_embeddings.c.paper_id)))).scalar()
            survivor.send_signal(signal.SIGTERM)
            assert survivor.wait(30) == 0
        except BaseException:
            for log in logs:
                print(f"--- {log.name}\n{log.read_text()[-3000:]}")
            raise
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
            client = redis.Redis.from_url(REDIS)
            for name in client.scan_iter(f"{prefix}:*"):
                client.delete(name)

    slots = sync_slots(engine)
    with engine.connect() as conn:
        runs = conn.execute(sa.select(ingest_runs.c.status).where(
            ingest_runs.c.source == "sync:hf")).scalars().all()
        others = conn.execute(sa.select(job_slots.c.job, job_slots.c.outcome,
                                        job_slots.c.attempts)
                              .where(job_slots.c.job != "sync")).all()
    print(f"\nqueue test: {len(slots)} sync slots, {len(runs)} sync runs, "
          f"{len({m[2] for m in sink.received})} SMTP connections, {embedded} papers embedded")
    assert len(slots) >= 6 and all(r.outcome == "ok" for r in slots)
    # Exactly once: one attempt per slot, the killed one twice; one sync run per attempt.
    assert sorted(r.attempts for r in slots) == [1] * (len(slots) - 1) + [2]
    assert len(runs) == len(slots) + 1
    assert sorted(Counter(runs).items()) == [("interrupted", 1), ("ok", len(slots))] or \
        sorted(Counter(runs).items()) == [("ok", len(slots)), ("running", 1)]
    assert len({r.slot for r in slots}) == len(slots)
    keys = [dt.datetime.fromisoformat(r.slot) for r in slots]
    assert all(k.timestamp() % SYNC_SECONDS == 0 for k in keys)  # floored to the interval
    assert {(job, outcome, attempts) for job, outcome, attempts in others} == {
        ("digest-daily", "ok", 1), ("digest-weekly", "ok", 1), ("embed", "ok", 1)}
    got = Counter(rcpt for rcpt, _, _ in sink.received)
    assert got == Counter({r: 1 for r in readers})  # each reader once
    assert len({peer for _, _, peer in sink.received}) >= 2  # both workers sent
    assert embedded == len(PAPERS)
    engine.dispose()

