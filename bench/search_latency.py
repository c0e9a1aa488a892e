"""Search latency on the 102,538 OAI abstracts, as the API serves it.

    python bench/search_latency.py [--workdir DIR] [--generate]

Imports the OAI pages into a fresh SQLite file (``import_paths``), stores the precomputed
all-MiniLM-L6-v2 vectors (same model, same ``<title>. <abstract>`` recipe) in paper_embeddings
through ``store_vectors`` under the product embedder's name, and builds the keyword index with
``SearchService.catch_up()``. The service uses the product's own embedder (``minilm-int8``, one
thread), so every query is embedded live.

The queries are ``bench/queries/latency.jsonl`` (``--generate`` writes it from the corpus: a
fixed, seeded mix of title spans, full titles, author surnames, abstract spans, phrases, topic
words and ids, 10% with filters — form filters or ``cat:``/``year:``/``author:``/``-word``).
Each is timed through ``routes_search.v1_search`` itself — called with a request object and a
read transaction, as FastAPI would, minus HTTP: parse, hybrid search, top 20 paper rows, feature
rows, highlights, JSON body. Figures: p50, p95 and p99 (targets 25 and 60 ms), per kind too.

Baselines in the same run: the same requests in keyword mode; the embedding of the query alone;
an exact scan (numpy matrix @ query over all vectors, top 10) and the product's dense top-10
recall against it (target ≥ 0.95). The service searches as the product would with
``DAILYPAPERS_ANN_MIN_VECTORS`` (``--ann-min-vectors``, 100,000 by default): at this size through
the HNSW graph, built first as the IndexWorker would (build time and memory printed); the same
requests with the exact scan are then a baseline. Also: the index build rate on 2,000 fresh papers with
embedding included (the IndexWorker path: keyword catch-up, ``embed_some`` batches) against the
bare model's rate on the same texts, interleaved so both see the same machine load (target ≥
0.9×); the keyword index's size on disk; resident memory here and in a fresh serving process.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

# _util first: one BLAS thread, as the server runs
from _util import REPO, SHARED_DATA, Timer, headline, max_rss_mb, median, percentile

import numpy as np

import sqlalchemy as sa

from dailypapers.db.engine import make_engine, read_transaction, write_transaction
from dailypapers.db.migrate import upgrade
from dailypapers.db.schema import paper_embeddings, papers
from dailypapers.settings import ANN_MIN_VECTORS
from dailypapers.index.embedder import document_text
from dailypapers.index.query import QueryError, parse_query
from dailypapers.index.search import MIN_COSINE, SearchService
from dailypapers.index.vectors import pending, store_vectors, text_hash
from dailypapers.index.worker import IndexWorker
from dailypapers.ingest.files import import_paths

OAI_DIR = SHARED_DATA / "arxiv" / "oai-pmh-cs-2016"
OAI_VECTORS = SHARED_DATA / "arxiv" / "oai-pmh-cs-2016-minilm"
QUERIES = REPO / "bench" / "queries" / "latency.jsonl"
BUILD_PAGES = ("listrecords-050.xml.gz", "listrecords-051.xml.gz")  # 2,000 papers
SEED = 20260402
N_QUERIES = 1200
P95_MS, P99_MS, RECALL, BUILD_RATIO = 25.0, 60.0, 0.95, 0.9
KIND_WEIGHTS = {"title_span": 25, "title": 15, "surname": 12, "abstract_span": 20, "phrase": 13,
                "topic": 10, "id": 5}


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def du_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


# --- the corpus ---------------------------------------------------------------------------------

def prepare(work: Path, model: str, dim: int):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{work / 'oai.sqlite3'}")
    upgrade(engine)
    ids, matrix = load_oai(engine, model, dim)
    return engine, ids, matrix


def load_oai(engine, model: str, dim: int):  # type: ignore[no-untyped-def]
    """The OAI pages and their precomputed vectors, into a migrated database (either kind)
    unless already there: (ids, float32 matrix). bench/load.py loads its database with it."""
    ids = (OAI_VECTORS / "ids.txt").read_text().split()
    with read_transaction(engine) as conn:  # the database may hold other papers already
        have = conn.execute(sa.select(sa.func.count()).select_from(papers)
                            .where(papers.c.id.in_(ids[:100]))).scalar()
    if not have:
        with Timer() as t:
            _, counts = import_paths(engine, [OAI_DIR])
        print(f"import_paths: {counts.total} records ({counts.refused} refused) in {t.seconds:.1f} s")
    matrix = np.load(OAI_VECTORS / "embeddings.f16.npy")
    with read_transaction(engine) as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(paper_embeddings)
                              .where(paper_embeddings.c.model == model)).scalar()
        if stored < len(ids):
            texts = {pid: document_text(title, abstract) for pid, title, abstract in conn.execute(
                sa.select(papers.c.id, papers.c.title, papers.c.abstract))}
    if stored < len(ids):
        with Timer() as t:
            for start in range(0, len(ids), 5000):
                with write_transaction(engine) as conn:
                    store_vectors(conn, model, dim, [
                        (pid, text_hash(texts[pid]), matrix[start + i].astype(np.float32))
                        for i, pid in enumerate(ids[start:start + 5000]) if pid in texts])
        print(f"store_vectors: {len(ids)} precomputed vectors in {t.seconds:.1f} s")
    return ids, matrix.astype(np.float32)


# --- the queries --------------------------------------------------------------------------------

def _span(text: str, lo: int, hi: int, rnd: random.Random) -> str:
    words = text.replace('"', " ").split()
    n = rnd.randint(lo, hi)
    if len(words) <= n:
        return " ".join(words)
    start = rnd.randrange(0, len(words) - n + 1)
    return " ".join(words[start:start + n])


def _surname(paper: dict, rnd: random.Random) -> str | None:
    names = [a["name"].split() for a in paper["authors"] if a.get("name", "").split()]
    if not names:
        return None
    return rnd.choice(names[:3])[-1].strip(string.punctuation) or None


def _content_words(text: str) -> list[str]:
    return [w for w in (x.strip(string.punctuation).lower() for x in text.split())
            if len(w) >= 5 and w.isalpha()]


def make_query(kind: str, paper: dict, rnd: random.Random) -> str | None:
    title, abstract = " ".join(paper["title"].split()), paper["abstract"]
    if kind == "title_span":
        return _span(title, 2, 5, rnd)
    if kind == "title":
        return title.replace('"', " ")
    if kind == "surname":
        return _surname(paper, rnd)
    if kind == "abstract_span":
        return _span(abstract, 4, 10, rnd)
    if kind == "phrase":
        return '"' + _span(rnd.choice((title, abstract)), 2, 3, rnd) + '"'
    if kind == "topic":
        words = list(dict.fromkeys(_content_words(title + " " + abstract)))
        return " ".join(rnd.sample(words, min(len(words), rnd.randint(2, 3)))) or None
    if kind == "id":
        return paper["id"]
    raise ValueError(kind)


def add_filter(q: str, paper: dict, rnd: random.Random) -> tuple[str, dict[str, str], str]:
    """One filter a reader would add: on the form (params) or in the query syntax."""
    year = (paper["submitted_at"] or "2015")[:4]
    category = paper["primary_category"] or "cs.LG"
    which = rnd.choice(("category", "dates", "cat:", "year:", "author:", "-word"))
    if which == "category":
        return q, {"category": rnd.choice((category, "cs"))}, which
    if which == "dates":
        return q, {"date_from": f"{year}-01-01", "date_to": f"{year}-12-31"}, which
    if which == "cat:":
        return f"{q} cat:{category}", {}, which
    if which == "year:":
        return f"{q} year:{rnd.choice((year, f'>={year}', f'{int(year) - 2}-{year}'))}", {}, which
    if which == "author:":
        surname = _surname(paper, rnd) or "smith"
        return f"{q} author:{surname}", {}, which
    words = [w for w in _content_words(paper["abstract"]) if w not in q.lower()]
    return (f"{q} -{rnd.choice(words)}" if words else q), {}, which


def generate(engine, n: int, seed: int, out: Path) -> None:  # type: ignore[no-untyped-def]
    with read_transaction(engine) as conn:
        rows = [dict(r) for r in conn.execute(
            sa.select(papers.c.id, papers.c.title, papers.c.abstract, papers.c.authors,
                      papers.c.primary_category, papers.c.submitted_at)
            .order_by(papers.c.id)).mappings()]
    rnd = random.Random(seed)
    kinds, weights = list(KIND_WEIGHTS), list(KIND_WEIGHTS.values())
    lines: list[str] = []
    while len(lines) < n:
        with_filter = len(lines) % 10 == 9  # exactly one query in ten
        kind = rnd.choices(kinds, weights)[0]
        if with_filter and kind == "id":
            continue
        paper = rnd.choice(rows)
        q = make_query(kind, paper, rnd)
        params: dict[str, str] = {}
        filtered = None
        if q and with_filter:
            q, params, filtered = add_filter(q, paper, rnd)
        if not q:
            continue
        try:
            parse_query(q, strict=True)  # the API's parsing: keep only what it answers with 200
        except QueryError:
            continue
        lines.append(json.dumps({"kind": kind, "filter": filtered, "q": q, "params": params,
                                 "paper": paper["id"]}, ensure_ascii=False))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {len(lines)} queries to {out} (seed {seed})")


# --- the API call, minus HTTP -------------------------------------------------------------------

def api_caller(service: SearchService, engine):  # type: ignore[no-untyped-def]
    """What GET /api/v1/search runs per request: the route function with its dependency."""
    from starlette.requests import Request

    from dailypapers.web.routes_search import v1_search

    app = SimpleNamespace(state=SimpleNamespace(search=service, engine=engine))

    def call(query: dict) -> tuple[int, bytes]:
        params = {"q": query["q"], **query["params"]}
        scope = {"type": "http", "method": "GET", "path": "/api/v1/search",
                 "raw_path": b"/api/v1/search", "query_string": urlencode(params).encode(),
                 "headers": [(b"host", b"127.0.0.1:8000")], "app": app,
                 "server": ("127.0.0.1", 8000), "scheme": "http", "root_path": ""}
        with read_transaction(engine) as conn:  # web.app.get_connection
            response = v1_search(Request(scope), conn)
        return response.status_code, response.body

    return call


def timed_calls(call, queries: list[dict], mode: str | None = None) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for query in queries:
        if mode:
            query = {**query, "params": {**query["params"], "mode": mode}}
        with Timer() as t:
            status, _ = call(query)
        assert status == 200, (status, query)
        out.append(t.seconds * 1000)
    return out


def summary(label: str, ms: list[float]) -> str:
    return (f"{label}: p50 {percentile(ms, 50):.2f} ms, p95 {percentile(ms, 95):.2f} ms, "
            f"p99 {percentile(ms, 99):.2f} ms, max {max(ms):.1f} ms (n={len(ms)})")


# --- build rate ---------------------------------------------------------------------------------

def build_rate(work: Path, embedder) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    """Papers/s through the product's indexing path on a fresh database, and the bare model's
    papers/s on the same texts, interleaved round by round (same grouping into batches)."""
    build = work / "build"
    if build.exists():
        import shutil
        shutil.rmtree(build)
    build.mkdir()
    engine = make_engine(f"sqlite:///{build / 'build.sqlite3'}")
    upgrade(engine)
    _, counts = import_paths(engine, [OAI_DIR / name for name in BUILD_PAGES])
    with read_transaction(engine) as conn:
        texts = [p.text for p in pending(conn, embedder.name, 10**6)]
    service = SearchService(engine, build, embedder=embedder)
    worker = IndexWorker(service)
    per_round = 4 * 32  # IndexWorker.run_once: embed_some(max_batches=4) of embed_pending's 32
    embedder.embed(texts[:16])  # warm both equally
    pipeline_s = bare_s = 0.0
    with Timer() as t:
        service.catch_up()  # builds the keyword index of the fresh database
    pipeline_s += t.seconds
    start = 0
    while True:
        chunk = texts[start:start + per_round]
        if chunk:
            with Timer() as t:
                embedder.embed(chunk)
            bare_s += t.seconds
        with Timer() as t:  # one round of IndexWorker.run_once's loop
            done = service.embed_some(stop=worker._stop, max_batches=4)
            if done:
                service.catch_up()
        pipeline_s += t.seconds
        if not done:
            break
        start += per_round
    assert len(service.vectors) == len(texts) == counts.inserted, (len(service.vectors), len(texts))
    return len(texts) / pipeline_s, len(texts) / bare_s, len(texts)


# --- run ----------------------------------------------------------------------------------------

def serving_rss(work: Path) -> str:
    """RSS of a fresh process that opens the built database and indexes and answers a query."""
    code = f"""
import sys; sys.path.insert(0, {str(REPO)!r})
from pathlib import Path
from dailypapers.db.engine import make_engine
from dailypapers.index.search import SearchService
s = SearchService(make_engine('sqlite:///{work / "oai.sqlite3"}'), Path({str(work)!r}))
s.catch_up(); s.search('graph neural networks', limit=20)
rss = [l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1]
print(f"{{int(rss) / 1024:.0f}}")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    return done.stdout.strip() or f"failed: {done.stderr[-300:]}"


def dense_figures(service: SearchService, queries: list[dict], ids: list[str], matrix: np.ndarray
                  ) -> tuple[list[float], list[float], list[float], float, float]:
    """The query embedding alone, the exact scan, and the product's vector search against it:
    (embed ms, exact ms, product ms, recall@10 of VectorIndex, recall@10 of dense mode)."""
    embed_ms, exact_ms, product_ms, recalls, dense_recalls = [], [], [], [], []
    for query in queries:
        parsed = parse_query(query["q"], strict=True)
        if not parsed.free_text:
            continue
        with Timer() as t:
            qv = service.embedder.embed([parsed.free_text])[0]
        embed_ms.append(t.seconds * 1000)
        with Timer() as t:
            scores = matrix @ qv
            top = np.argpartition(-scores, 10)[:10]
            top = top[np.argsort(-scores[top])]
        exact_ms.append(t.seconds * 1000)
        exact = {ids[i] for i in top}
        with Timer() as t:
            found = service.vectors.search(qv, 10)
        product_ms.append(t.seconds * 1000)
        recalls.append(len(exact & {pid for pid, _ in found}) / 10)
        if not (query["params"] or parsed.filters or parsed.phrases or parsed.exclude_words):
            dense = service.search(query["q"], limit=10, mode="dense").hits
            wanted = {ids[i] for i in top if scores[i] >= MIN_COSINE}
            if wanted:
                dense_recalls.append(len(wanted & {h.paper_id for h in dense}) / len(wanted))
    return (embed_ms, exact_ms, product_ms, sum(recalls) / len(recalls),
            sum(dense_recalls) / max(1, len(dense_recalls)))


def exact_section(service: SearchService, call, queries: list[dict], product: list[float]  # type: ignore[no-untyped-def]
                  ) -> None:
    """Baseline when the product searches the graph: the same requests with the exact scan."""
    vectors = service.vectors
    vectors.ann_min_vectors = 0
    vectors.drop_graph()
    service.query_vector.cache_clear()
    exact = timed_calls(call, queries)
    print(summary("baseline: GET /api/v1/search with the exact scan instead of the graph", exact)
          + f"  (product in the same run: p95 {percentile(product, 95):.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", default=None, help="keep (and reuse) the database and indexes")
    parser.add_argument("--generate", action="store_true",
                        help=f"write {QUERIES.relative_to(REPO)} from the corpus first")
    parser.add_argument("--queries", default=str(QUERIES))
    parser.add_argument("--no-build-rate", action="store_true")
    parser.add_argument("--ann-min-vectors", type=int, default=ANN_MIN_VECTORS,
                        help="the product setting: from this many vectors on, search the graph")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="dp-latency-"))
    work.mkdir(parents=True, exist_ok=True)

    service = None
    with Timer() as t_ready:
        from dailypapers.index.embedder import get_embedder

        embedder = get_embedder("minilm-int8")  # what SearchService.from_settings uses
        engine, ids, matrix = prepare(work, embedder.name, embedder.dim)
        if args.generate:
            generate(engine, N_QUERIES, SEED, Path(args.queries))
        service = SearchService(engine, work, ann_min_vectors=args.ann_min_vectors)
        with Timer() as t_index:
            service.catch_up()  # keyword index built from the database, vectors loaded
    print(f"SearchService.catch_up (keyword build + {len(service.vectors)} vectors loaded): "
          f"{t_index.seconds:.1f} s; ready in {t_ready.seconds:.0f} s")
    if service.vectors.needs_graph():  # what the IndexWorker does in the background
        rss_before = rss_mb()
        with Timer() as t_graph:
            service.build_graph()
        print(f"HNSW graph (int8, one thread; {len(service.vectors)} vectors ≥ ann_min_vectors "
              f"{args.ann_min_vectors}): built in {t_graph.seconds:.1f} s "
              f"({len(service.vectors) / t_graph.seconds:.0f} vectors/s), "
              f"{service.vectors.graph_bytes / 2**20:.0f} MiB (resident +{rss_mb() - rss_before:.0f} MiB)")
    keyword_mb = du_mb(service.path)
    print(f"on disk: keyword index {keyword_mb:.0f} MiB ({service.path}), SQLite file "
          f"{(work / 'oai.sqlite3').stat().st_size / 2**20:.0f} MiB; vectors in memory "
          f"{len(service.vectors) * service.vectors.dim * 4 / 2**20:.0f} MiB")
    rss_loaded = rss_mb()

    queries = [json.loads(line) for line in Path(args.queries).read_text().splitlines() if line]
    by_kind = defaultdict(int)
    for q in queries:
        by_kind[q["kind"]] += 1
    print(f"{len(queries)} queries ({', '.join(f'{k} {v}' for k, v in by_kind.items())}; "
          f"{sum(1 for q in queries if q['filter'])} with filters)")

    call = api_caller(service, engine)
    for query in queries[:50]:  # warm-up
        call(query)
    service.query_vector.cache_clear()  # every timed query is embedded live
    hybrid = timed_calls(call, queries)
    keyword = timed_calls(call, queries, mode="keyword")

    embed_ms, exact_ms, product_ms, recall, dense_recall = dense_figures(service, queries, ids,
                                                                         matrix)

    print()
    print(summary("baseline: keyword mode, same requests", keyword))
    print(summary("baseline: query embedding alone (MiniLMInt8, 1 thread)", embed_ms))
    print(summary(f"baseline: exact numpy scan, {len(ids)} × 384, top 10", exact_ms))
    print(summary("product VectorIndex.search, top 10 "
                  f"({'graph, re-ranked exactly' if service.vectors.uses_graph else 'exact scan'})",
                  product_ms))
    print(f"dense recall@10 vs exact scan: VectorIndex {recall:.4f} over {len(product_ms)} "
          f"queries; dense mode (cosine ≥ {MIN_COSINE}, no filters) {dense_recall:.4f}")
    kinds: dict[str, list[float]] = defaultdict(list)
    for query, ms in zip(queries, hybrid):
        kinds[query["kind"]].append(ms)
        if query["filter"]:
            kinds["(with a filter)"].append(ms)
    for kind, ms in kinds.items():
        print("  " + summary(f"hybrid {kind}", ms))
    slow = sorted(zip(hybrid, queries), key=lambda p: -p[0])[:5]
    print("  slowest: " + "; ".join(f"{ms:.0f} ms {q['q'][:50]!r} {q['params'] or ''}"
                                    for ms, q in slow))
    print(summary("GET /api/v1/search (hybrid, top 20, rows + highlights)", hybrid))

    print(f"resident memory: {rss_loaded:.0f} MiB after loading, {rss_mb():.0f} MiB after the "
          f"queries (peak {max_rss_mb():.0f} MiB, import included); a fresh serving process: "
          f"{serving_rss(work)} MiB")

    if service.vectors.uses_graph:
        exact_section(service, call, queries, hybrid)

    ratio_ok = True
    if not args.no_build_rate:
        pipeline_rate, bare_rate, n = build_rate(work, service.embedder)
        ratio = pipeline_rate / bare_rate
        ratio_ok = ratio >= BUILD_RATIO
        print(f"index build on {n} fresh papers, embedding included: {pipeline_rate:.1f} papers/s; "
              f"bare MiniLMInt8.embed on the same texts: {bare_rate:.1f}/s; ratio {ratio:.2f} "
              f"(target ≥ {BUILD_RATIO})")

    p95, p99 = percentile(hybrid, 95), percentile(hybrid, 99)
    ok = p95 <= P95_MS and p99 <= P99_MS and recall >= RECALL and ratio_ok
    headline("search_latency", p95, f"ms p95 (p99 {p99:.1f} ms, p50 {median(hybrid):.1f} ms, "
             f"recall@10 {recall:.3f})",
             f"p95 ≤ {P95_MS:g} ms, p99 ≤ {P99_MS:g} ms, recall ≥ {RECALL}, build ≥ {BUILD_RATIO}× bare",
             ok)


if __name__ == "__main__":
    main()
