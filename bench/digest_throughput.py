"""Digest mails per second from the outbox to an SMTP sink on loopback, against a bare-SMTP ceiling.

On a fresh PostgreSQL database: the `hf-daily/` corpus and the whole OAI corpus (103 pages of
~1,000 papers; `--oai-pages N` takes the first N, for a quicker run: the daily digest only reads
the feature day's papers and the topics' matches, so a slice changes little but the setup), then
100,000 confirmed daily subscribers with a seeded mix of contents (trending only; 1–3 arXiv
categories; one saved search from a fixed list), inserted with COPY (ingest.service.insert_rows).
The latest feature day's digest is built (notify.outbox.build: one transaction, every outbox row;
timed), then SENDERS processes run notify.delivery.deliver side by side (rows claimed with SKIP
LOCKED, no throttle) against SINKS aiosmtpd servers, each in a process of its own, which count
messages and Message-IDs. The baseline, in the same run: the same number of processes sending one
fixed, pre-rendered digest mail over the same kind of SMTP connection as fast as they can.

The sink must receive exactly one message per pending outbox row (count and distinct Message-IDs),
and every row must end ``sent``.

    python bench/digest_throughput.py [--subscribers 100000] [--senders 4] [--sinks 2]
                                      [--oai-pages N]

Needs PostgreSQL at DAILYPAPERS_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/
test; a database is created and dropped). Ends with `digest_throughput: N msg/s (target ≥ 500)`;
exits non-zero on a miss or on any mismatch.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import queue
import os
import random
import re
import shutil
import smtplib
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _util import SHARED_DATA, Timer, headline, max_rss_mb, throwaway_database

import sqlalchemy as sa

from dailypapers import catalog
from dailypapers.db.engine import make_engine, read_transaction, write_transaction
from dailypapers.db.migrate import upgrade
from dailypapers.db.schema import digest_outbox, feature_days, subscription_topics, subscriptions
from dailypapers.ingest.files import import_paths
from dailypapers.ingest.service import insert_rows
from dailypapers.notify import outbox
from dailypapers.notify.delivery import deliver
from dailypapers.notify.digest_render import Renderer
from dailypapers.settings import Settings

PG_ADMIN = os.environ.get("DAILYPAPERS_TEST_POSTGRES_URL",
                          "postgresql://postgres@127.0.0.1:5432/test")
TARGET = 500.0
KEY = b"digest-bench-secret-key-0123456789abcdef"
CATEGORIES = ["cs.CL", "cs.CV", "cs.LG", "cs.AI", "cs.RO", "stat.ML", "cs.IR", "cs.NE", "cs.SD",
              "cs.CR", "cs.HC", "eess.AS"]
SEARCHES = ["language model", "diffusion", "reinforcement learning", "retrieval augmented",
            "robot", "benchmark", "agent", "video generation", "speech", "quantization",
            "mixture of experts", "reasoning"]
MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.I | re.M)


# --- the sink -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sink(port: int, stop: "mp.synchronize.Event", out: "mp.Queue") -> None:
    from aiosmtpd.controller import Controller

    class Counter:
        def __init__(self) -> None:
            self.count = 0
            self.ids: list[bytes] = []

        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            self.count += 1
            found = MESSAGE_ID.search(envelope.original_content or envelope.content)
            if found:
                self.ids.append(found.group(1))
            return "250 OK"

    handler = Counter()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    out.put(("ready", port))
    stop.wait()
    controller.stop()
    out.put(("done", handler.count, handler.ids))


class Sinks:
    """SMTP servers in processes of their own; ``close()`` gives (messages, Message-IDs)."""

    def __init__(self, n: int) -> None:
        self.stop, self.out = mp.Event(), mp.Queue()
        self.ports = [free_port() for _ in range(n)]
        self.procs = [mp.Process(target=_sink, args=(p, self.stop, self.out), daemon=True) for p in self.ports]
        for proc in self.procs:
            proc.start()
        for _ in self.procs:
            assert self.out.get(timeout=30)[0] == "ready"

    def close(self) -> tuple[int, list[bytes]]:
        self.stop.set()
        count, ids = 0, []
        for _ in self.procs:
            _tag, n, got = self.out.get(timeout=60)
            count += n
            ids += got
        for proc in self.procs:
            proc.join()
        return count, ids


# --- the corpus and the subscribers ---------------------------------------------------------


def fill(engine: sa.Engine, subscribers: int, oai_pages: int | None) -> None:
    oai = sorted((SHARED_DATA / "arxiv" / "oai-pmh-cs-2016").glob("*.xml.gz"))[:oai_pages]
    with Timer() as t:
        _, counts = import_paths(engine, [SHARED_DATA / "hf-daily", *oai])
    print(f"corpus: hf-daily/ + {len(oai)} OAI pages: {counts.total} records "
          f"({counts.refused} refused) in {t.seconds:.1f} s")
    rng = random.Random(9)
    now = dt.datetime.now(dt.timezone.utc)
    subs, topics = [], []
    mix = {"trending": 0, "categories": 0, "search": 0}
    for n in range(1, subscribers + 1):
        kind = rng.choices(list(mix), weights=[4, 4, 2])[0]
        mix[kind] += 1
        email = f"reader{n}@example.test"
        subs.append({"id": n, "email": email, "email_key": email, "user_id": None,
                     "state": "confirmed", "frequency": "daily", "trending": kind == "trending",
                     "max_items": 10, "created_at": now, "updated_at": now, "confirmed_at": now,
                     "state_changed_at": now})
        if kind == "categories":
            for cat in rng.sample(CATEGORIES, rng.randint(1, 3)):
                topics.append({"subscription_id": n, "kind": "category", "value": cat})
        elif kind == "search":
            topics.append({"subscription_id": n, "kind": "search", "value": rng.choice(SEARCHES)})
    with Timer() as t, write_transaction(engine) as conn:
        insert_rows(conn, subscriptions, subs)
        insert_rows(conn, subscription_topics, topics)
        conn.exec_driver_sql("SELECT setval('subscriptions_id_seq', (SELECT max(id) FROM "
                             "subscriptions))")
    print(f"subscribers: {subscribers:,} confirmed daily ({mix['trending']:,} trending only, "
          f"{mix['categories']:,} with 1-3 categories, {mix['search']:,} with a saved search), "
          f"{len(topics):,} topics, inserted in {t.seconds:.1f} s")


# --- sending --------------------------------------------------------------------------------


def _sender(url: str, settings: Settings, out: "mp.Queue") -> None:
    engine = make_engine(url, pool_size=2, max_overflow=2)
    report = deliver(settings, engine, KEY, wait=False)
    out.put((report.sent, report.failed, report.retried, report.skipped, report.errors[:3],
             max_rss_mb()))


def _baseline_sender(port: int, raw: bytes, count: int, out: "mp.Queue") -> None:
    # Rendered once, sent as deliver() sends (sendmail with the wire bytes), so only the
    # database work and the rendering make the difference.
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for _ in range(count):
            smtp.sendmail("digest@example.test", ["reader@example.test"], raw)
    out.put(count)


def run_procs(targets: list[tuple]) -> tuple[float, list]:
    out: mp.Queue = mp.Queue()
    procs = [mp.Process(target=fn, args=(*args, out), daemon=True) for fn, *args in targets]
    start = time.perf_counter()
    for proc in procs:
        proc.start()
    results: list = []
    while len(results) < len(procs):
        try:
            results.append(out.get(timeout=2))
        except queue.Empty:
            if any(p.exitcode not in (None, 0) for p in procs):
                for p in procs:
                    p.kill()
                raise SystemExit("a sender process failed (its traceback is above)") from None
    seconds = time.perf_counter() - start
    for proc in procs:
        proc.join()
    return seconds, results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--sinks", type=int, default=2)
    parser.add_argument("--oai-pages", type=int, default=None, help="default: all")
    parser.add_argument("--baseline-messages", type=int, default=20_000)
    args = parser.parse_args()
    mp.set_start_method("fork")
    began = time.perf_counter()

    work = Path(tempfile.mkdtemp(prefix="dp-digest-bench-"))
    try:
        with throwaway_database(PG_ADMIN, f"dp_digestbench_{uuid.uuid4().hex[:10]}") as url:
            rate, ok = measure(url, work, args, began)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    headline("digest_throughput", rate, "msg/s", f"≥ {TARGET:.0f}", ok)


def measure(url: str, work: Path, args: argparse.Namespace, began: float) -> tuple[float, bool]:
    """Fill the database at ``url``, build the digest, time the baseline and the delivery:
    (messages per second, whether every message arrived once and the target was met)."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        fill(engine, args.subscribers, args.oai_pages)
        settings = Settings(database_url=url, data_dir=work, base_url="https://papers.example.test",
                            mail_backend="smtp", mail_from="Daily Papers <digest@example.test>",
                            mail_smtp_host="127.0.0.1", mail_smtp_security="none",
                            digest_rate_per_second=0, secret_key=KEY.decode())

        with read_transaction(engine) as conn:
            day = conn.execute(sa.select(sa.func.max(feature_days.c.day))).scalar()
        period = catalog.day_period(day)
        from dailypapers.index.search import SearchService

        with Timer() as t_index:
            search = SearchService.from_settings(engine, settings)
            search.catch_up()
        print(f"keyword index for saved searches: {t_index.seconds:.1f} s")
        with Timer() as t_build, write_transaction(engine) as conn:
            built = outbox.build(conn, "daily", period, base_url=settings.base_url,
                                 sender_domain="example.test", search=search)
        assert built is not None and built.created
        print(f"build {period.label}: {t_build.seconds:.1f} s, {built.pending:,} mails to send, "
              f"{built.skipped:,} readers with nothing new; build process peak RSS "
              f"{max_rss_mb():.0f} MB")

        # Baseline: one real digest mail, rendered once, sent again and again.
        with read_transaction(engine) as conn:
            row = conn.execute(
                sa.select(digest_outbox.c.id, digest_outbox.c.subscription_id,
                          digest_outbox.c.contents, digest_outbox.c.message_id,
                          sa.literal("daily").label("kind"), sa.literal(period.label).label("period"),
                          subscriptions.c.email)
                .join(subscriptions, subscriptions.c.id == digest_outbox.c.subscription_id)
                .where(digest_outbox.c.state == "pending").order_by(digest_outbox.c.id).limit(1)
            ).one()
            found = catalog.papers_by_ids(conn, [pid for pid, _ in row.contents])
        raw = Renderer(settings, KEY).message(found, row).data
        sinks = Sinks(args.sinks)
        per = args.baseline_messages // args.senders
        seconds, _ = run_procs([(_baseline_sender, sinks.ports[i % args.sinks], raw, per)
                                for i in range(args.senders)])
        count, _ids = sinks.close()
        base_rate = per * args.senders / seconds
        print(f"baseline: {per * args.senders:,} copies of one pre-rendered mail "
              f"({len(raw):,} bytes) from {args.senders} processes to {args.sinks} sinks: "
              f"{seconds:.1f} s, {base_rate:,.0f} msg/s (sink got {count:,})")
        assert count == per * args.senders

        # The real thing: deliver() in SENDERS processes, claims shared through the database.
        sinks = Sinks(args.sinks)
        targets = [(_sender, url, settings.model_copy(
            update={"mail_smtp_port": sinks.ports[i % args.sinks]})) for i in range(args.senders)]
        engine.dispose()  # forked senders must not share the parent's pool
        seconds, results = run_procs(targets)
        count, ids = sinks.close()
        sent = sum(r[0] for r in results)
        rate = sent / seconds
        for n, (s, failed, retried, skipped, errors, rss) in enumerate(results):
            print(f"  sender {n}: {s:,} sent, {failed} failed, {retried} retried, {skipped} "
                  f"skipped, peak RSS {rss:.0f} MB{' ' + '; '.join(errors) if errors else ''}")
        with read_transaction(engine) as conn:
            states = outbox.outbox_counts(conn)
            expected = set(conn.execute(sa.select(digest_outbox.c.message_id).where(
                digest_outbox.c.state != "skipped")).scalars())
        print(f"delivery: {sent:,} mails in {seconds:.1f} s = {rate:,.0f} msg/s "
              f"({rate / base_rate:.0%} of the baseline); sink got {count:,} messages, "
              f"{len(set(ids)):,} distinct Message-IDs; outbox {states}")
        # Senders are forked from the bench process: their RSS counts pages shared with it.
        print(f"peak RSS: bench process {max_rss_mb():.0f} MB, senders up to "
              f"{max(r[5] for r in results):.0f} MB each")
        exact = (count == built.pending == sent == len(set(ids)) == len(expected)
                 and {i.decode() for i in ids} == expected
                 and states.get("sent", 0) == built.pending)
        print(f"whole run so far: {time.perf_counter() - began:.0f} s (budget 15 min)")
        if not exact:
            print("MISMATCH: the sink did not get exactly one message per pending outbox row")
        return rate, exact and rate >= TARGET
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
