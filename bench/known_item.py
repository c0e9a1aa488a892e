"""Known-item search: can a reader find the paper they have in mind?

    python bench/known_item.py [--workdir DIR] [--per-kind 1000] [--no-distractors]

Imports every Hugging Face daily file (7,414 papers) and, as distractors, the 102,538 OAI
abstracts of 2016 (``--no-distractors`` leaves them out) into a fresh SQLite file through the
product's importer. The OAI papers get the precomputed all-MiniLM-L6-v2 vectors (same model and
``<title>. <abstract>`` recipe) through ``store_vectors``; the Hugging Face papers are embedded by
the product's background path (``embed_pending``, MiniLMInt8 on two threads, ~6 minutes).
``--workdir`` keeps the database and indexes, so a second run starts searching at once.

For a fixed, seeded sample of Hugging Face papers (the first ``--per-kind`` eligible papers of
one seeded shuffle, per kind), the queries a reader would type:

- ``id``            the arXiv id, ``2502.20730``
- ``id_form``       the id as pasted: ``arXiv:2502.20730v2``, an abs or pdf URL
- ``title``         the exact title
- ``partial_title`` a contiguous half of the title (3+ words, stop words at its ends dropped)
- ``title_typo``    the title with one typo (a swap, a dropped, doubled or wrong letter)
- ``author_word``   one author's surname plus one title word
- ``ai_summary``    the paper's AI summary, as a paraphrase
- ``two_keywords``  two of the paper's ``ai_keywords``

each answered by SearchService in keyword, dense and hybrid mode (top 10, the search page's
lenient parsing). Prints hit@1, hit@10 and MRR@10 per kind and mode; the single modes are the
baselines of the same run. Targets, hybrid mode (the product default): ids and exact titles
hit@1 ≥ 0.99; typo'd and partial titles hit@10 ≥ 0.95; ai_summary hit@1 ≥ 0.98; two keywords
hit@10 ≥ 0.85. The headline is the worst margin over these; any miss exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import string
import tempfile
from collections import defaultdict
from pathlib import Path

# _util first: one BLAS thread, as the server runs
from _util import SHARED_DATA, Timer, headline

import numpy as np

import sqlalchemy as sa

from dailypapers.db.engine import make_engine, read_transaction, write_transaction
from dailypapers.db.migrate import upgrade
from dailypapers.db.schema import paper_embeddings, papers
from dailypapers.index.embedder import MiniLMInt8, document_text
from dailypapers.index.keyword_schema import EN_ANALYZER
from dailypapers.index.search import SearchService
from dailypapers.index.vectors import embed_pending, store_vectors, text_hash
from dailypapers.ingest.files import import_paths

SEED = 20260401
KINDS = ("id", "id_form", "title", "partial_title", "title_typo", "author_word", "ai_summary",
         "two_keywords")
MODES = ("keyword", "dense", "hybrid")
# (kind, metric, threshold), all in hybrid mode.
TARGETS = [
    ("id", "hit@1", 0.99), ("id_form", "hit@1", 0.99), ("title", "hit@1", 0.99),
    ("partial_title", "hit@10", 0.95), ("title_typo", "hit@10", 0.95),
    ("ai_summary", "hit@1", 0.98), ("two_keywords", "hit@10", 0.85),
]
HF_DIR = SHARED_DATA / "hf-daily"
OAI_DIR = SHARED_DATA / "arxiv" / "oai-pmh-cs-2016"
OAI_VECTORS = SHARED_DATA / "arxiv" / "oai-pmh-cs-2016-minilm"


class QueryCache:
    """The product's embedder, remembering query vectors so dense and hybrid mode embed each query
    once (same model, same text: the same vector)."""

    def __init__(self, inner: MiniLMInt8) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self._seen: dict[str, np.ndarray] = {}

    def embed(self, texts: list[str]) -> np.ndarray:
        if len(texts) != 1:
            return self.inner.embed(texts)
        if texts[0] not in self._seen:
            self._seen[texts[0]] = self.inner.embed(texts)[0]
        return self._seen[texts[0]][None, :]


# --- corpus -------------------------------------------------------------------------------------

def prepare(work: Path, distractors: bool, embedder: MiniLMInt8):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{work / 'known.sqlite3'}")
    upgrade(engine)
    with read_transaction(engine) as conn:
        have = conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar()
    if not have:
        paths = [HF_DIR] + ([OAI_DIR] if distractors else [])
        with Timer() as t:
            _, counts = import_paths(engine, paths)
        print(f"imported {counts.total} records ({counts.refused} refused) in {t.seconds:.1f} s")
    if distractors:
        with Timer() as t:
            stored = load_precomputed(engine, embedder.name, embedder.dim)
        if stored:
            print(f"stored {stored} precomputed OAI vectors in {t.seconds:.1f} s")
    with Timer() as t:
        embedded = embed_pending(engine, embedder)
    if embedded:
        print(f"embedded {embedded} papers (embed_pending, MiniLMInt8 threads=2) in "
              f"{t.seconds:.0f} s ({embedded / t.seconds:.1f}/s)")
    return engine


def load_precomputed(engine, model: str, dim: int) -> int:  # type: ignore[no-untyped-def]
    ids = (OAI_VECTORS / "ids.txt").read_text().split()
    matrix = np.load(OAI_VECTORS / "embeddings.f16.npy", mmap_mode="r")
    with read_transaction(engine) as conn:
        done = set(conn.execute(sa.select(paper_embeddings.c.paper_id)
                                .where(paper_embeddings.c.model == model)).scalars())
        texts = {pid: document_text(title, abstract) for pid, title, abstract in conn.execute(
            sa.select(papers.c.id, papers.c.title, papers.c.abstract))}
    todo = [(i, pid) for i, pid in enumerate(ids) if pid in texts and pid not in done]
    for start in range(0, len(todo), 5000):
        chunk = todo[start:start + 5000]
        with write_transaction(engine) as conn:
            store_vectors(conn, model, dim, [
                (pid, text_hash(texts[pid]), np.asarray(matrix[i], dtype=np.float32))
                for i, pid in chunk])
    return len(todo)


# --- queries ------------------------------------------------------------------------------------

def content_words(title: str) -> list[str]:
    """Title words a reader would remember: alphabetic, 4+ letters, not stop words."""
    out = []
    for word in title.split():
        bare = word.strip(string.punctuation)
        if len(bare) >= 4 and bare.isalpha() and EN_ANALYZER.analyze(bare):
            out.append(bare)
    return out


def typo(title: str, rnd: random.Random) -> str | None:
    words = title.split()
    where = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not where:
        return None
    i = rnd.choice(where)
    w = words[i]
    j = rnd.randrange(1, len(w) - 1)  # keep the first letter, as most typos do
    op = rnd.choice(("swap", "drop", "double", "replace"))
    if op == "swap":
        w = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    elif op == "drop":
        w = w[:j] + w[j + 1:]
    elif op == "double":
        w = w[:j] + w[j] + w[j:]
    else:
        letters = [c for c in string.ascii_lowercase if c != w[j].lower()]
        w = w[:j] + rnd.choice(letters) + w[j + 1:]
    if w == words[i]:
        return None
    words[i] = w
    return " ".join(words)


def id_form(pid: str, rnd: random.Random) -> str:
    return rnd.choice((f"arXiv:{pid}", f"arXiv:{pid}v{rnd.randint(1, 3)}",
                       f"https://arxiv.org/abs/{pid}", f"https://arxiv.org/pdf/{pid}v1"))


def query_for(kind: str, paper: dict, rnd: random.Random) -> str | None:
    pid, title = paper["id"], " ".join(paper["title"].split())
    if kind == "id":
        return pid
    if kind == "id_form":
        return id_form(pid, rnd)
    if kind == "title":
        return title
    if kind == "partial_title":
        words = title.split()
        if len(words) < 4:
            return None  # half of a 3-word title is not a partial title
        n = max(3, math.ceil(len(words) / 2))
        start = rnd.randrange(0, len(words) - n + 1)
        span = words[start:start + n]
        while span and not EN_ANALYZER.analyze(span[0]):  # nobody remembers "for X Y and"
            span = span[1:]
        while span and not EN_ANALYZER.analyze(span[-1]):
            span = span[:-1]
        return " ".join(span) if len(span) >= 2 else None
    if kind == "title_typo":
        return typo(title, rnd)
    if kind == "author_word":
        names = [a["name"].split() for a in paper["authors"] if a.get("name", "").split()]
        words = content_words(title)
        if not names or not words:
            return None
        surname = rnd.choice(names[:3])[-1]
        return f"{surname} {rnd.choice(words)}"
    if kind == "ai_summary":
        return " ".join((paper["ai_summary"] or "").split()) or None
    if kind == "two_keywords":
        keywords = list(dict.fromkeys(k.strip() for k in paper["ai_keywords"] or [] if k.strip()))
        if len(keywords) < 2:
            return None
        return " ".join(rnd.sample(keywords, 2))
    raise ValueError(kind)


def generate(engine, per_kind: int, seed: int) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    """(kind, paper id, query): deterministic for the same data, sample size and seed."""
    with read_transaction(engine) as conn:
        rows = [dict(r) for r in conn.execute(
            sa.select(papers.c.id, papers.c.title, papers.c.authors, papers.c.ai_summary,
                      papers.c.ai_keywords, papers.c.sources)
            .order_by(papers.c.id)).mappings()]
    hf = [r for r in rows if "hf" in r["sources"].split(",")]
    order = random.Random(seed).sample(hf, len(hf))
    out = []
    for k, kind in enumerate(KINDS):
        rnd = random.Random(seed * 100 + k)
        taken = 0
        for paper in order:
            if taken == per_kind:
                break
            q = query_for(kind, paper, rnd)
            if q:
                out.append((kind, paper["id"], q))
                taken += 1
    return out


# --- run ----------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", default=None, help="keep (and reuse) the database and indexes")
    parser.add_argument("--per-kind", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--no-distractors", action="store_true",
                        help="only the Hugging Face papers (no OAI 2016 abstracts)")
    parser.add_argument("--show-misses", type=int, default=3, help="hybrid misses shown per kind")
    parser.add_argument("--dump", help="write the generated queries to this JSON-lines file")
    parser.add_argument("--fusion", choices=["convex", "rrf"], default=None,
                        help="override the product default (to try a setting)")
    parser.add_argument("--alpha", type=float, default=None)
    parser.add_argument("--alpha-short", type=float, default=None)
    parser.add_argument("--rrf-k", type=float, default=None)
    parser.add_argument("--ann", action="store_true",
                        help="search vectors through the HNSW graph (as past ann_min_vectors)")
    args = parser.parse_args()

    distractors = not args.no_distractors
    root = Path(args.workdir or tempfile.mkdtemp(prefix="dp-known-"))
    work = root / ("hf+oai" if distractors else "hf")
    work.mkdir(parents=True, exist_ok=True)
    embedder = MiniLMInt8(threads=2)
    with Timer() as t_setup:
        engine = prepare(work, distractors, embedder)
        tuning = {k: v for k, v in (("fusion", args.fusion), ("alpha", args.alpha),
                                    ("alpha_short", args.alpha_short), ("rrf_k", args.rrf_k))
                  if v is not None}
        service = SearchService(engine, work, embedder=QueryCache(embedder),  # type: ignore[arg-type]
                                **tuning)
        service.catch_up()
        if args.ann:
            service.vectors.ann_min_vectors = 1
            if not service.build_graph():
                raise SystemExit("the graph was not built")
    with read_transaction(engine) as conn:
        n_papers = conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar()
    print(f"corpus: {n_papers} papers ({'Hugging Face + OAI 2016 distractors' if distractors else 'Hugging Face only'}), "
          f"{len(service.vectors)} vectors, {service.keyword.num_docs} keyword docs; "
          f"ready in {t_setup.seconds:.0f} s ({work})")

    queries = generate(engine, args.per_kind, args.seed)
    if args.dump:
        with open(args.dump, "w") as fh:
            for kind, pid, q in queries:
                fh.write(json.dumps({"kind": kind, "paper": pid, "q": q}) + "\n")
    counts = defaultdict(int)
    for kind, _, _ in queries:
        counts[kind] += 1
    print("queries: " + ", ".join(f"{k} {counts[k]}" for k in KINDS) + f" (seed {args.seed})")

    # ranks[mode][kind] = list of 1-based ranks (None: not in the top 10)
    ranks: dict[str, dict[str, list[int | None]]] = {m: defaultdict(list) for m in MODES}
    misses: dict[str, list[tuple[str, str, list[str]]]] = defaultdict(list)
    seconds: dict[str, float] = {}
    for mode in MODES:
        with Timer() as t:
            for kind, pid, q in queries:
                found = [h.paper_id for h in
                         service.search(q, limit=10, mode=mode, strict=False).hits]
                rank = found.index(pid) + 1 if pid in found else None
                ranks[mode][kind].append(rank)
                if mode == "hybrid" and rank != 1:
                    misses[kind].append((q, pid, found[:3]))
        seconds[mode] = t.seconds

    def figures(mode: str, kind: str) -> dict[str, float]:
        rs = ranks[mode][kind]
        n = len(rs) or 1
        return {"hit@1": sum(r == 1 for r in rs) / n, "hit@10": sum(r is not None for r in rs) / n,
                "MRR": sum(1 / r for r in rs if r) / n}

    print(f"\n{'kind':14} {'n':>5}  " + "  ".join(f"{m:^23}" for m in MODES))
    print(f"{'':14} {'':>5}  " + "  ".join(f"{'hit@1  hit@10   MRR':^23}" for _ in MODES))
    for kind in KINDS:
        cells = []
        for mode in MODES:
            f = figures(mode, kind)
            cells.append(f"{f['hit@1']:.3f}  {f['hit@10']:.3f}  {f['MRR']:.3f}  ")
        print(f"{kind:14} {counts[kind]:5d}  " + "  ".join(cells))
    print(f"fusion {service.fusion}, alpha {service.alpha} (short queries "
          f"{getattr(service, 'alpha_short', service.alpha)}), rrf k {service.rrf_k:g}; time: "
          + ", ".join(f"{m} {seconds[m] / len(queries) * 1000:.1f} ms/query" for m in MODES)
          + " (hybrid reuses the dense pass's query vectors)")

    if args.show_misses:
        print("\nhybrid misses at rank 1 (query → wanted, top 3):")
        for kind in KINDS:
            for q, pid, top in misses[kind][:args.show_misses]:
                print(f"  {kind:13} {q[:90]!r} → {pid}, got {top}")

    print("\ntargets (hybrid):")
    worst, worst_what, ok = math.inf, "", True
    for kind, metric, threshold in TARGETS:
        value = figures("hybrid", kind)[metric]
        margin = value - threshold
        good = margin >= 0
        ok &= good
        print(f"  {kind:14} {metric:7} {value:.3f}  (≥ {threshold})  {'ok' if good else 'MISSED'}")
        if margin < worst:
            worst, worst_what = margin, f"{kind} {metric} {value:.3f}"
    headline("known_item", worst, f"worst margin over targets, hybrid ({worst_what})",
             "every margin ≥ 0", ok)


if __name__ == "__main__":
    main()
