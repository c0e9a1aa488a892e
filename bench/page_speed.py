"""The busiest day's page with the full corpus in SQLite, rendered in process.

Imports every Hugging Face daily file and every OAI page into a fresh SQLite file (or reuses
--db), finds the day with the most featured papers, then times 200 requests after warm-up through
the ASGI app (no network). Baseline in the same run: a static file through the same app stack.
Target: median < 20 ms.

``--while-embedding`` then times the same page again while the serving process's IndexWorker
(the thread ``create_app(index_worker=True)`` starts: keyword catch-up, then ``embed_some``
batches with the product's embedder on one core) embeds the corpus in the background, and
compares the medians. Target: within 2× of idle.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _util import SHARED_DATA, Timer, headline, median, percentile

import sqlalchemy as sa

from dailypapers.db.engine import make_engine, read_transaction
from dailypapers.db.migrate import upgrade
from dailypapers.db.schema import feature_days, paper_embeddings
from dailypapers.ingest.files import import_paths
from dailypapers.settings import Settings

TARGET_MS = 20.0
BUSY_RATIO = 2.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", help="an existing SQLite file with the corpus (skips the import)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--no-oai", action="store_true", help="only the Hugging Face corpus")
    parser.add_argument("--while-embedding", action="store_true",
                        help="also time the page while the index worker embeds in the background")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="dp-page-speed-"))
    db_path = Path(args.db) if args.db else workdir / "corpus.sqlite3"
    url = f"sqlite:///{db_path}"
    engine = make_engine(url)
    upgrade(engine)
    if not args.db:
        paths = [SHARED_DATA / "hf-daily"]
        if not args.no_oai:
            paths.append(SHARED_DATA / "arxiv" / "oai-pmh-cs-2016")
        with Timer() as t:
            _, counts = import_paths(engine, paths)
        print(f"imported {counts.total} records ({counts.refused} refused) in {t.seconds:.1f} s")

    with read_transaction(engine) as conn:
        papers_total = conn.execute(sa.text("select count(*) from papers")).scalar()
        day, size = conn.execute(
            sa.select(feature_days.c.day, sa.func.count().label("n"))
            .group_by(feature_days.c.day).order_by(sa.text("n desc")).limit(1)
        ).one()
    print(f"corpus: {papers_total} papers; busiest day {day} with {size} papers")

    from fastapi.testclient import TestClient

    from dailypapers.web.app import create_app

    settings = Settings(database_url=url, data_dir=workdir)
    client = TestClient(create_app(settings, engine))
    client.__enter__()  # runs the app's lifespan as the server does (gc.freeze at start-up)
    page = f"/papers/date/{day.isoformat()}"
    baseline_url = "/static/css/site.css"

    def timed(path: str, requests: int = args.requests) -> list[float]:
        for _ in range(20):  # warm-up
            assert client.get(path).status_code == 200
        out = []
        for _ in range(requests):
            with Timer() as t:
                response = client.get(path)
            assert response.status_code == 200
            out.append(t.seconds * 1000)
        return out

    base = timed(baseline_url)
    times = timed(page)
    print(f"baseline (static file, same stack): median {median(base):.2f} ms, p95 {percentile(base, 95):.2f} ms")
    print(f"{page}: median {median(times):.2f} ms, p95 {percentile(times, 95):.2f} ms, "
          f"p99 {percentile(times, 99):.2f} ms ({size} cards, {len(response_text(client, page)) // 1024} KiB)")
    med = median(times)
    if args.while_embedding:
        # Five times as many requests, so the window spans several embedding batches.
        busy, embedded, seconds = while_embedding(client, engine, lambda: timed(page, 5 * args.requests))
        ratio = median(busy) / med
        print(f"{page} while embedding: median {median(busy):.2f} ms, p95 {percentile(busy, 95):.2f} ms, "
              f"p99 {percentile(busy, 99):.2f} ms; {embedded} papers embedded meanwhile in "
              f"{seconds:.1f} s ({embedded / seconds:.1f}/s); {ratio:.2f}× the idle median")
        headline("page_speed_while_embedding", ratio, f"× idle median ({median(busy):.2f} vs {med:.2f} ms)",
                 f"≤ {BUSY_RATIO:g}× idle and idle < {TARGET_MS:g} ms",
                 ratio <= BUSY_RATIO and med < TARGET_MS)
    headline("page_speed", med, "ms median busiest day", f"< {TARGET_MS:g} ms", med < TARGET_MS)


def embedded_count(engine) -> int:  # type: ignore[no-untyped-def]
    with read_transaction(engine) as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(paper_embeddings)).scalar() or 0


def while_embedding(client, engine, measure):  # type: ignore[no-untyped-def]
    """Start the app's IndexWorker as its lifespan would, wait until it is embedding (after the
    keyword index is built), measure, stop it. Returns (times, papers embedded, seconds)."""
    from dailypapers.index.worker import IndexWorker

    app = client.app
    worker = IndexWorker(app.state.search, interval=app.state.settings.index_interval_seconds,
                         embed=True)
    before = embedded_count(engine)
    worker.start()
    try:
        deadline = time.monotonic() + 600
        while embedded_count(engine) == before:  # keyword build first, then the first batch
            if time.monotonic() > deadline:
                raise SystemExit("the index worker did not start embedding within 10 minutes")
            time.sleep(0.5)
        start, first = time.monotonic(), embedded_count(engine)
        times = measure()
        seconds, done = time.monotonic() - start, embedded_count(engine) - first
        if not worker._thread or not worker._thread.is_alive() or not done:
            raise SystemExit("the index worker stopped embedding during the measurement")
    finally:
        worker.stop(timeout=60)
    return times, done, seconds


def response_text(client, path: str) -> str:  # type: ignore[no-untyped-def]
    return client.get(path).text


if __name__ == "__main__":
    main()
