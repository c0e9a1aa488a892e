"""Dense search past the bundled corpus: the exact scan against the HNSW graph at N vectors.

    python bench/vector_scale.py [--sizes 100000,300000,600000] [--queries 300]

The 102,538 precomputed all-MiniLM-L6-v2 OAI vectors, plus noisy copies of them (Gaussian noise
of 0.03 per dimension, renormalised: cosine about 0.86 to their original) up to each size,
are loaded into the product's ``VectorIndex`` as rows read from ``paper_embeddings`` would be
(float16 blobs). Queries are real: the free text of ``bench/queries/latency.jsonl`` embedded by
the product's model. Per size: the graph's build time on one thread, memory of the matrix and of
the graph, and ``VectorIndex.search`` for the 100 candidates hybrid search asks for, exact scan
(the baseline, recall 1 by construction) against the graph, p50/p95, with the graph's recall@10.
Target at the largest size: graph recall@10 ≥ 0.95 and graph p95 at most half the exact scan's
p95 in the same run.
"""

from __future__ import annotations

import argparse
import json

# _util first: one BLAS thread, as the server runs
from _util import REPO, SHARED_DATA, Timer, headline, median, percentile

import numpy as np

from dailypapers.index.embedder import get_embedder
from dailypapers.index.query import parse_query
from dailypapers.index.vectors import VectorIndex

VECTORS = SHARED_DATA / "arxiv" / "oai-pmh-cs-2016-minilm" / "embeddings.f16.npy"
QUERIES = REPO / "bench" / "queries" / "latency.jsonl"
RECALL, SPEEDUP, WANT = 0.95, 2.0, 100


def corpus(size: int, base: np.ndarray, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    parts, have = [base], len(base)
    while have < size:
        take = min(len(base), size - have)
        noisy = base[:take] + rng.normal(0, 0.03, (take, base.shape[1])).astype(np.float32)
        parts.append(noisy / np.linalg.norm(noisy, axis=1, keepdims=True))
        have += take
    return np.concatenate(parts)[:size]


def load(index: VectorIndex, matrix: np.ndarray, chunk: int = 20000) -> None:
    """Rows as catch_up reads them from paper_embeddings: (seq, paper id, float16 blob)."""
    for start in range(0, len(matrix), chunk):
        part = matrix[start:start + chunk].astype("<f2")
        index._apply([(start + i + 1, f"p{start + i}", part[i].tobytes())
                      for i in range(len(part))])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,300000,600000")
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    base = np.load(VECTORS).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    texts = [parse_query(json.loads(line)["q"], strict=False).free_text
             for line in QUERIES.read_text().splitlines() if line.strip()]
    queries = get_embedder("minilm-int8").embed([t for t in texts if t][:args.queries])
    print(f"{len(queries)} live-embedded queries; base {len(base)} real vectors")

    last = None
    for size in sizes:
        matrix = corpus(size, base)
        index = VectorIndex("bench", matrix.shape[1], ann_min_vectors=0)
        load(index, matrix)
        exact_ms, exact_top = [], []
        for q in queries:
            with Timer() as t:
                found = index.search(q, WANT)
            exact_ms.append(t.seconds * 1000)
            exact_top.append({pid for pid, _ in found[:10]})
        index.ann_min_vectors = 1
        with Timer() as t_build:
            index.build_graph()
        graph_ms, recalls = [], []
        for q, truth in zip(queries, exact_top):
            with Timer() as t:
                found = index.search(q, WANT)
            graph_ms.append(t.seconds * 1000)
            recalls.append(len(truth & {pid for pid, _ in found[:10]}) / 10)
        recall, p95 = sum(recalls) / len(recalls), percentile(graph_ms, 95)
        print(f"{size:>9,} vectors: matrix {size * matrix.shape[1] * 4 / 2**20:.0f} MiB, graph "
              f"{index.graph_bytes / 2**20:.0f} MiB built in {t_build.seconds:.0f} s (one thread); "
              f"top {WANT}: exact scan p50 {median(exact_ms):.1f} / p95 {percentile(exact_ms, 95):.1f} ms, "
              f"graph p50 {median(graph_ms):.1f} / p95 {p95:.1f} ms, recall@10 {recall:.3f}",
              flush=True)
        last = (size, recall, p95, percentile(exact_ms, 95))
        del index, matrix
    if last is None:
        raise SystemExit("--sizes names no size")
    size, recall, p95, exact_p95 = last
    ok = recall >= RECALL and p95 * SPEEDUP <= exact_p95
    headline("vector_scale", recall, f"recall@10 of the graph at {size:,} vectors "
             f"(p95 {p95:.1f} ms, exact scan {exact_p95:.1f} ms)",
             f"recall ≥ {RECALL}, p95 ≤ 1/{SPEEDUP:g} of the exact scan's", ok)


if __name__ == "__main__":
    main()
