"""Retrieval quality on any BEIR-format set, through the product's own import and search code.

    python bench/search_quality.py --data ../shared/data/scifact --qrels ../shared/data/scifact/qrels-train.tsv

Documents become papers (synthetic arXiv ids, the BEIR title and text as title and abstract),
go through the normal upsert, keyword index build and background embedding code, and each query
is answered by SearchService in keyword, dense and hybrid mode. Prints nDCG@10 and recall@100
per mode, hybrid last. Target: hybrid beats both single modes and reaches nDCG@10 ≥ 0.73.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from collections import defaultdict
from pathlib import Path

from _util import SHARED_DATA, Timer, headline

from dailypapers.db.engine import make_engine, write_transaction
from dailypapers.db.migrate import upgrade
from dailypapers.index.embedder import MiniLMInt8
from dailypapers.index.search import SearchService
from dailypapers.index.vectors import embed_pending
from dailypapers.ingest.records import SOURCE_KAGGLE, PaperRecord, ParsedItem
from dailypapers.ingest.service import store_items

TARGET = 0.73


def synthetic_id(n: int) -> str:
    return f"{9001 + n // 99999:04d}.{n % 99999 + 1:05d}"


def load_beir(data: Path, qrels_path: Path):  # type: ignore[no-untyped-def]
    docs = [json.loads(line) for line in (data / "corpus.jsonl").open() if line.strip()]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (data / "queries.jsonl").open())}
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with qrels_path.open() as fh:
        for line in fh:
            parts = line.strip().split("\t")
            if len(parts) < 3 or not parts[2].lstrip("-").isdigit():
                continue  # header
            qrels[parts[0]][parts[1]] = int(parts[2])
    return docs, {qid: queries[qid] for qid in qrels if qid in queries}, qrels


def ndcg_at(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], relevant: dict[str, int], k: int = 100) -> float:
    hits = {d for d in ranked[:k] if relevant.get(d, 0) > 0}
    positives = {d for d, g in relevant.items() if g > 0}
    return len(hits) / len(positives) if positives else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(SHARED_DATA / "scifact"))
    parser.add_argument("--qrels", default=None)
    parser.add_argument("--workdir", default=None, help="reuse a previous run's database and vectors")
    parser.add_argument("--fusion", choices=["convex", "rrf"], default="convex")
    parser.add_argument("--alpha", type=float, default=0.4)
    parser.add_argument("--alpha-short", type=float, default=0.7)
    parser.add_argument("--rrf-k", type=float, default=60.0)
    args = parser.parse_args()
    data = Path(args.data)
    qrels_path = Path(args.qrels) if args.qrels else data / "qrels-train.tsv"
    docs, queries, qrels = load_beir(data, qrels_path)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="dp-quality-"))
    work.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{work / 'beir.sqlite3'}")
    upgrade(engine)
    to_doc = {synthetic_id(i): d["_id"] for i, d in enumerate(docs)}
    with Timer() as t_import, write_transaction(engine) as conn:
        counts = store_items(conn, [
            ParsedItem(PaperRecord(arxiv_id=synthetic_id(i), source=SOURCE_KAGGLE,
                                   title=d.get("title") or "", abstract=d.get("text") or ""))
            for i, d in enumerate(docs)
        ])
    print(f"{len(docs)} documents stored ({counts.inserted} new) in {t_import.seconds:.1f} s; "
          f"{len(queries)} judged queries")
    embedder = MiniLMInt8(threads=2)
    with Timer() as t_embed:
        embedded = embed_pending(engine, embedder)
    if embedded:
        print(f"embedded {embedded} documents in {t_embed.seconds:.0f} s ({embedded / t_embed.seconds:.1f}/s)")
    service = SearchService(engine, work, fusion=args.fusion, alpha=args.alpha,
                            alpha_short=args.alpha_short, rrf_k=args.rrf_k)
    service._embedder = embedder  # same model and recipe, two threads for the benchmark
    service.catch_up()

    figures = {}
    for mode in ("keyword", "dense", "hybrid"):
        ndcgs, recalls = [], []
        with Timer() as t:
            for qid, text in queries.items():
                results = service.search(text, limit=100, mode=mode, strict=False)
                ranked = [to_doc[h.paper_id] for h in results.hits]
                ndcgs.append(ndcg_at(ranked, qrels[qid]))
                recalls.append(recall_at(ranked, qrels[qid]))
        figures[mode] = (sum(ndcgs) / len(ndcgs), sum(recalls) / len(recalls))
        print(f"{mode:8} nDCG@10 {figures[mode][0]:.4f}  recall@100 {figures[mode][1]:.4f}  "
              f"({t.seconds / len(queries) * 1000:.1f} ms/query)")
    hybrid = figures["hybrid"][0]
    ok = hybrid >= TARGET and hybrid > figures["keyword"][0] and hybrid > figures["dense"][0]
    headline("search_quality", hybrid, "nDCG@10 hybrid", f"≥ {TARGET} and above keyword and dense", ok)


if __name__ == "__main__":
    main()
