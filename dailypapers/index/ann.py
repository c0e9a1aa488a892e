"""An approximate nearest-neighbour graph over the vector matrix, for large collections.

Below ``DAILYPAPERS_ANN_MIN_VECTORS`` (100,000 by default) the exact scan is fast enough and
needs nothing more. From there on, an HNSW graph (usearch) proposes candidates and the exact
float32 vectors re-rank them, so scores stay exact cosines.

Why 100,000: bench/search_latency.py on 102,538 vectors (one BLAS thread, as the server runs),
the API's hybrid search p95 is 17.5 ms with the graph against 20.4 ms scanning exactly, and 15.3
against 17.6 ms with the other core kept busy (the scan costs ~5 ms a query, the graph ~2);
bench/known_item.py on 110k papers gives the same hybrid hit rates either way (within 0.001).

Figures measured here on the 102,538 OAI vectors, 600 queries of bench/queries/latency.jsonl
embedded live, top 10 against an exact scan: an int8 graph with 16 links per node, searched with
ef 512 for 100 candidates re-ranked exactly, has recall 0.969 at 1.0 ms a query (ef 128: 0.90 at
0.4 ms; ef 1024: 0.985 at 1.9 ms; 32 links: +0.005 for 40% more memory). A float16 graph has
the same recall at twice the memory and build time; without the exact re-rank, int8 loses
about 0.08 more. Building on one core: about 15-20 s per 100k vectors. Recall at a fixed ef
falls as the graph grows (bench/vector_scale.py, 300k vectors with noisy copies: ef 512
0.944, 1024 0.970, 2048 0.984 at 4.6 ms), so ef grows with the graph: ``expansion_for``.
The graph is derived from the matrix, built in the background when the collection crosses the
threshold (the exact scan answers meanwhile) and never changed after: rows that arrive or change
later are scanned exactly beside it until there are enough of them to build again (vectors.py).
Built once per node: the builder saves it under ``<data_dir>/index/vectors/`` and every process
of the node memory-maps that file read-only (graph_store.py).
"""

from __future__ import annotations

import numpy as np

CONNECTIVITY = 16
EXPANSION_ADD = 128
EXPANSION_SEARCH = 1024  # at 300,000 vectors; proportionally more or less, within the bounds
MIN_EXPANSION, MAX_EXPANSION = 512, 4096
MIN_CANDIDATES = 100
OVERFETCH = 2  # candidates per wanted result, re-ranked exactly
# Past this many wanted results the exact scan is faster: a graph search for 1,000 candidates
# (a filtered search looks ten times further) took 8 ms on 60k vectors, the scan 3 ms.
MAX_WANT = 200


class Graph:
    """HNSW over int8-quantised unit vectors; keys are the matrix's row numbers."""

    def __init__(self, dim: int, *, view: str | None = None) -> None:
        """An empty graph, or with ``view`` the graph saved in that file, memory-mapped
        read-only (the page cache holds one copy for every process that views it)."""
        # onnxruntime must be loaded before usearch: the other way round, onnxruntime's import
        # binds a libstdc++ symbol that usearch's extension brought and crashes the process
        # (usearch 2.26.6, onnxruntime 1.31.1; tests/test_vectors.py checks the order holds).
        import onnxruntime  # noqa: F401
        from usearch.index import Index

        if view is None:
            self._index = Index(ndim=dim, metric="cos", dtype="i8", connectivity=CONNECTIVITY,
                                expansion_add=EXPANSION_ADD, expansion_search=MIN_EXPANSION)
        else:
            self._index = Index.restore(view, view=True)
            if self._index is None or self._index.ndim != dim:
                raise ValueError(f"{view} holds no graph of {dim} dimensions")
            # Not saved in the file: set as the builder had it.
            self._index.expansion_search = expansion_for(len(self._index))

    def __len__(self) -> int:
        return len(self._index)

    @property
    def memory_bytes(self) -> int:
        return int(self._index.memory_usage)

    def add(self, slots: np.ndarray, vectors: np.ndarray) -> None:
        """Add new rows (one thread: the graph is background work), before any search: usearch
        reallocates as it grows, which a search must not overlap."""
        slots = np.asarray(slots, dtype=np.uint64)
        self._index.add(slots, np.ascontiguousarray(vectors, dtype=np.float32), threads=1)
        self._index.expansion_search = expansion_for(len(self._index))

    def save(self, path: str) -> None:
        self._index.save(path)

    def candidates(self, query: np.ndarray, want: int) -> np.ndarray:
        """Row numbers of about the ``want`` nearest rows (more, to be re-ranked exactly)."""
        count = max(MIN_CANDIDATES, want * OVERFETCH)  # usearch widens ef to count itself
        found = self._index.search(query.astype(np.float32), count, threads=1)
        return np.asarray(found.keys, dtype=np.int64)


def expansion_for(size: int) -> int:
    """The search breadth (ef) that keeps recall@10 near 0.97 as the graph grows."""
    return int(min(MAX_EXPANSION, max(MIN_EXPANSION, EXPANSION_SEARCH * size / 300_000)))
