"""One vector graph per node: what the second web process pays, against the first and against
a graph of its own (before graph_store.py, every process built one).

    nice -n 10 python bench/ann_share.py [--size 100000] [--workdir DIR]

A fresh SQLite file holds ``--size`` papers (bare rows) and their precomputed all-MiniLM-L6-v2
OAI vectors (``../shared/data/arxiv/oai-pmh-cs-2016-minilm/``, float16, in paper_embeddings as
``store_vectors`` writes them). Then, each in a fresh process, as a web process does
(``SearchService.vectors``: the first catch-up; then ``build_graph`` if ``needs_graph``, as the
IndexWorker's graph thread would):
- ``own``: a graph of its own, nothing saved (``graph_dir=None``: the old behaviour);
- ``first``: no saved graph yet: loads the vectors, builds the graph, saves it, maps it;
- ``second``: starts once it is saved: serves from the mapped graph after its first catch-up.
- ``pair``: two processes started at once on a node without a saved graph (``serve
  --workers 2``): one builds, the other waits on the lock and maps it.
Per process: wall and CPU seconds until the graph serves, resident memory (anonymous: the
process's own; file: mapped pages the page cache shares between processes) and the top 10 of
200 queries (stored vectors plus noise), compared across the three.
Target: the second process serves from the graph in at most a quarter of the first's CPU, with
at most a quarter of the memory of its own that a graph of its own costs; one build for the
pair; every answer equal to the first's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

# _util first: one BLAS thread, as the server runs
from _util import REPO, SHARED_DATA, Timer, headline

import datetime as dt

import numpy as np

from dailypapers.db.engine import make_engine, write_transaction
from dailypapers.db.migrate import upgrade
from dailypapers.db.schema import papers
from dailypapers.index.vectors import store_vectors

OAI = SHARED_DATA / "arxiv" / "oai-pmh-cs-2016-minilm"
MODEL, DIM = "bench-oai-minilm", 384

PROCESS = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
import os; os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
from pathlib import Path
import numpy as np
import onnxruntime, usearch.index  # loaded by any graph: in the idle figures, not the deltas
from dailypapers.db.engine import make_engine, read_transaction
from dailypapers.index.graph_store import graph_dir
from dailypapers.index.vectors import VectorIndex

def memory():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {k: int(fields[k].split()[0]) / 1024
            for k in ("VmRSS", "VmHWM", "RssAnon", "RssFile")}

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

work, mode, model, dim = Path(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
engine = make_engine(f"sqlite:///{work / 'share.sqlite3'}")
idle, cpu0, t0 = memory(), cpu(), time.perf_counter()
# What SearchService.vectors does, then the IndexWorker's graph thread
vectors = VectorIndex(model, dim, int(sys.argv[6]),
                      graph_dir=None if mode == "own" else graph_dir(work, model, dim))
with read_transaction(engine) as conn:
    vectors.catch_up(conn)
loaded = time.perf_counter() - t0
if vectors.needs_graph():
    vectors.build_graph()
wall, used = time.perf_counter() - t0, cpu() - cpu0
ready = memory()
queries = np.load(sys.argv[7])
tops = [[pid for pid, _ in vectors.search(q, 10)] for q in queries]
print(json.dumps({"mode": mode, "wall": wall, "loaded": loaded, "cpu": used,
                  "uses_graph": vectors.uses_graph, "built": vectors.graphs_built,
                  "stale": vectors.stale_rows, "idle": idle, "ready": ready, "tops": tops}))
"""


def prepare(work: Path, size: int) -> np.ndarray:
    ids = (OAI / "ids.txt").read_text().split()[:size]
    matrix = np.load(OAI / "embeddings.f16.npy")[:size].astype(np.float32)
    engine = make_engine(f"sqlite:///{work / 'share.sqlite3'}")
    upgrade(engine)
    now = dt.datetime.now(dt.timezone.utc)
    with Timer() as t:
        for start in range(0, size, 5000):
            part = ids[start:start + 5000]
            with write_transaction(engine) as conn:
                conn.execute(papers.insert(), [
                    {"id": pid, "title": pid, "authors": [], "categories": [], "bib_source": "oai",
                     "sources": "oai", "first_seen_at": now, "row_updated_at": now}
                    for pid in part])
                store_vectors(conn, MODEL, DIM, [(pid, "h", matrix[start + i])
                                                 for i, pid in enumerate(part)])
    print(f"stored {size} papers and vectors in {t.seconds:.1f} s")
    engine.dispose()
    return matrix


def start(work: Path, mode: str, min_vectors: int, queries: Path) -> subprocess.Popen:  # type: ignore[type-arg]
    return subprocess.Popen(
        [sys.executable, "-c", PROCESS, str(REPO), str(work), mode, MODEL, str(DIM),
         str(min_vectors), str(queries)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, label: str) -> dict:  # type: ignore[type-arg]
    out, err = process.communicate(timeout=1800)
    if process.returncode:
        raise SystemExit(f"{label} process failed: {err[-2000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    idle, ready = result["idle"], result["ready"]
    print(f"{label:>8}: graph serves after {result['wall']:.1f} s wall ({result['loaded']:.1f} s "
          f"to the first catch-up), {result['cpu']:.1f} s CPU; built {result['built']}, "
          f"stale rows {result['stale']}; resident {ready['VmRSS']:.0f} MiB (peak "
          f"{ready['VmHWM']:.0f}): own +{ready['RssAnon'] - idle['RssAnon']:.0f} MiB, mapped "
          f"files +{ready['RssFile'] - idle['RssFile']:.0f} MiB over an idle process", flush=True)
    return result


def run(work: Path, mode: str, min_vectors: int, queries: Path) -> dict:  # type: ignore[type-arg]
    return finish(start(work, mode, min_vectors, queries), mode)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        matrix = prepare(work, args.size)
        rng = np.random.default_rng(3)
        picked = matrix[rng.choice(len(matrix), 200, replace=False)]
        queries = picked + rng.normal(0, 0.03, picked.shape).astype(np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        np.save(work / "queries.npy", queries.astype(np.float32))
        del matrix
        min_vectors = args.size  # the graph is wanted, as past DAILYPAPERS_ANN_MIN_VECTORS
        own = run(work, "own", min_vectors, work / "queries.npy")
        first = run(work, "first", min_vectors, work / "queries.npy")
        second = run(work, "second", min_vectors, work / "queries.npy")
        files = sorted(p for p in (work / "index" / "vectors").rglob("g-*"))
        print("saved: " + ", ".join(f"{p.suffix} {p.stat().st_size / 2**20:.0f} MiB" for p in files))
        # serve --workers 2 starting on a node with no saved graph: both want one at once
        for path in files:
            path.unlink()
        pair = [start(work, "pair", min_vectors, work / "queries.npy") for _ in range(2)]
        together = [finish(p, f"pair {n}") for n, p in enumerate(pair, 1)]
        print(f"two processes at once: built {sum(r['built'] for r in together)} graph(s), "
              f"{sum(r['cpu'] for r in together):.1f} s CPU in all")
    same_first = sum(a == b for a, b in zip(second["tops"], first["tops"]))
    same_own = sum(a == b for a, b in zip(second["tops"], own["tops"]))
    print(f"top 10 equal: second = first for {same_first}/200 queries, second = own graph "
          f"for {same_own}/200")
    same_pair = sum(a == b for r in together for a, b in zip(r["tops"], first["tops"]))
    own_mem = lambda r: r["ready"]["RssAnon"] - r["idle"]["RssAnon"]  # noqa: E731
    ok = (second["built"] == 0 and second["uses_graph"] and same_first == same_own == 200
          and same_pair == 400 and sum(r["built"] for r in together) == 1
          and second["cpu"] <= first["cpu"] / 4 and own_mem(second) <= own_mem(own) / 4)
    headline("ann_share_second_cpu", second["cpu"], "s",
             f"<= 1/4 of the first process's {first['cpu']:.1f} s CPU (own graph: "
             f"{own['cpu']:.1f} s); its own memory {own_mem(second):.0f} MiB <= 1/4 of an "
             f"own graph's {own_mem(own):.0f} MiB; one build for two at once; all answers equal",
             ok)


if __name__ == "__main__":
    main()
