"""One vector graph per node: built once, saved under <data_dir>/index/vectors/, mapped by all."""

import threading

import numpy as np
import pytest

from dailypapers.db.engine import write_transaction
from dailypapers.db.schema import paper_embeddings
from dailypapers.index import graph_store
from dailypapers.index.search import SearchService
from dailypapers.index.vectors import REBUILD_FRACTION, VectorIndex, store_vectors
from tests.test_vectors import GRAPH_DIM, GRAPH_MODEL, _caught_up, _random_papers


class StoredOnly:  # the vectors are already stored: nothing is embedded here
    name, dim = GRAPH_MODEL, GRAPH_DIM


def _service(engine, settings) -> SearchService:
    service = SearchService(engine, settings.data_dir, embedder=StoredOnly(), ann_min_vectors=1000)
    service.catch_up()
    return service


def _folder(settings):
    return graph_store.graph_dir(settings.data_dir, GRAPH_MODEL, GRAPH_DIM)


def _snapshot_files(settings) -> list[str]:
    return sorted(p.name for p in _folder(settings).iterdir() if p.name != "lock")


def _queries(stored: dict[str, np.ndarray], count: int = 30, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for pid in rng.choice(sorted(stored), count, replace=False):
        query = stored[pid] + rng.normal(scale=0.05, size=GRAPH_DIM).astype(np.float32)
        out.append(query / np.linalg.norm(query))
    return out


def exact_top(stored: dict[str, np.ndarray], query: np.ndarray, k: int) -> list[str]:
    ids = sorted(stored)
    scores = np.stack([stored[p] for p in ids]) @ query
    return [ids[i] for i in np.argsort(-scores, kind="stable")[:k]]


def test_the_second_process_maps_the_first_ones_graph(engine, settings):
    stored = _random_papers(engine, 1500)
    first, second = _service(engine, settings), _service(engine, settings)
    assert first.vectors.graph_state == "building"  # due: /readyz says so meanwhile
    assert first.build_graph() and first.vectors.graphs_built == 1
    assert first.vectors.graph_state == "graph"
    files = _snapshot_files(settings)
    assert [f.rsplit(".", 1)[1] for f in files] == ["json", "npy", "usearch"]
    mtimes = {p.name: p.stat().st_mtime_ns for p in _folder(settings).iterdir()}

    assert second.build_graph() and second.vectors.uses_graph
    assert second.vectors.graphs_built == 0  # mapped, not built
    assert {p.name: p.stat().st_mtime_ns for p in _folder(settings).iterdir()} == mtimes
    assert second.vectors.stale_rows == 0
    layouts = second.vectors.layouts
    second.vectors.drop_graph()  # searches rank differently: the index token moves
    assert second.vectors.layouts == layouts + 1 and second.vectors.graph_state == "building"
    assert second.build_graph()
    few = VectorIndex(GRAPH_MODEL, GRAPH_DIM, ann_min_vectors=10_000)
    assert _caught_up(engine, few).graph_state == "exact"

    # The same results as the process that built it, and as a graph of the process's own
    # (usearch builds the same graph from the same rows in the same order, one thread).
    own = _caught_up(engine, VectorIndex(GRAPH_MODEL, GRAPH_DIM, ann_min_vectors=1000))
    assert own.build_graph() and own.graph_dir is None
    for query in _queries(stored):
        got = second.vectors.search(query, 10)
        assert got == first.vectors.search(query, 10) == own.search(query, 10)
    assert second.similar("2604.00042", 5) == first.similar("2604.00042", 5)

    # A process that starts once the file exists serves from it at its first catch-up, and
    # copies none of its rows (they equal the database's): no build, no graph thread needed.
    third = _service(engine, settings)
    assert third.vectors.uses_graph and not third.vectors.needs_graph()
    assert third.vectors.graphs_built == 0 and third.vectors.stale_rows == 0
    assert len(third.vectors._layout.tail) == 0 and len(third.vectors) == 1500
    for query in _queries(stored, seed=2):
        assert third.vectors.search(query, 10) == first.vectors.search(query, 10)


def test_processes_building_at_once_build_one_graph(engine, settings):
    _random_papers(engine, 1500)
    services = [_service(engine, settings) for _ in range(3)]
    threads = [threading.Thread(target=s.build_graph) for s in services]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(s.vectors.uses_graph for s in services)
    assert sum(s.vectors.graphs_built for s in services) == 1  # the others waited and mapped
    assert len(_snapshot_files(settings)) == 3


def test_a_changed_vector_set_never_uses_the_stale_file(engine, settings):
    stored = _random_papers(engine, 1500)
    first = _service(engine, settings)
    assert first.build_graph()
    old = _snapshot_files(settings)

    # A few vectors changed: the file still serves its other rows; the changed ones are scanned
    # with their new vectors, never re-ranked or returned from the file's old ones.
    moved = {f"2604.{n:05d}": -stored[f"2604.{n:05d}"] for n in range(20)}
    with write_transaction(engine) as conn:
        store_vectors(conn, GRAPH_MODEL, GRAPH_DIM, [(pid, "h2", v) for pid, v in moved.items()])
    second = _service(engine, settings)  # starts from the file
    assert second.vectors.uses_graph and not second.vectors.needs_graph()
    assert second.vectors.stale_rows == 2 * len(moved)  # dead in the file, live in the tail
    current = {**stored, **{p: v.astype("<f2").astype(np.float32) for p, v in moved.items()}}
    for pid, vector in moved.items():
        top = second.vectors.search(vector, 3)
        assert top[0][0] == pid and top[0][1] == pytest.approx(1.0, abs=1e-3)
        assert pid not in {p for p, _ in second.vectors.search(stored[pid], 10)}
    for query in _queries(stored):
        got = second.vectors.search(query, 10)
        assert got[0][0] == exact_top(current, query, 1)[0]
        for pid, score in got:  # exact cosines of the current vectors
            assert score == pytest.approx(float(current[pid] @ query), abs=1e-5)

    # Most vectors changed: the file no longer fits; a fresh graph replaces it, old files go.
    many = {pid: -v for pid, v in list(stored.items())[:400]}
    with write_transaction(engine) as conn:
        store_vectors(conn, GRAPH_MODEL, GRAPH_DIM, [(pid, "h3", v) for pid, v in many.items()])
    third = _service(engine, settings)
    assert third.vectors.needs_graph()
    assert third.build_graph() and third.vectors.graphs_built == 1
    new = _snapshot_files(settings)
    assert len(new) == 3 and not set(new) & set(old)
    assert third.vectors.stale_rows == 0
    pid = "2604.00300"
    assert third.vectors.search(many[pid], 1)[0][0] == pid


def test_another_model_or_deleted_rows_do_not_use_the_file(engine, settings):
    stored = _random_papers(engine, 1500)
    assert _service(engine, settings).build_graph()
    other = graph_store.graph_dir(settings.data_dir, "other-model", GRAPH_DIM)
    assert other != _folder(settings) and graph_store.latest(other, "other-model", GRAPH_DIM) is None
    assert graph_store.latest(_folder(settings), "other-model", GRAPH_DIM) is None

    # Rows deleted: the file's rows for them are dead, never returned.
    gone = [f"2604.{n:05d}" for n in range(100)]
    with write_transaction(engine) as conn:
        conn.execute(paper_embeddings.delete().where(paper_embeddings.c.paper_id.in_(gone)))
    later = _service(engine, settings)
    assert later.vectors.uses_graph and later.vectors.stale_rows == 100
    assert later.vectors.graphs_built == 0 and len(later.vectors) == 1400
    for pid in gone[:20]:
        assert not set(gone) & {p for p, _ in later.vectors.search(stored[pid], 10)}
        assert later.vectors.vector_of(pid) is None


def test_a_crash_mid_save_leaves_files_that_are_ignored_and_removed(engine, settings):
    stored = _random_papers(engine, 1500)
    folder = _folder(settings)
    folder.mkdir(parents=True)
    # A crash while writing: a temp file; a crash between renames: graph and matrix without
    # their description; and a description whose files do not match it.
    (folder / ".g-1500-1500-deadbeef.usearch.0a1b2c3d.tmp").write_bytes(b"\0" * 1000)
    (folder / "g-1400-1400-cafecafe.usearch").write_bytes(b"\0" * 1000)
    (folder / "g-1400-1400-cafecafe.npy").write_bytes(b"\0" * 1000)
    (folder / "g-1300-1300-badbad00.json").write_text('{"format": 1, "model": "x"}')
    assert graph_store.latest(folder, GRAPH_MODEL, GRAPH_DIM) is None

    first = _service(engine, settings)
    assert first.build_graph() and first.vectors.graphs_built == 1
    files = _snapshot_files(settings)
    assert len(files) == 3 and all(f.startswith("g-1500-") for f in files)
    assert first.vectors.search(stored["2604.00007"], 1)[0][0] == "2604.00007"

    # A snapshot whose matrix was cut short is not one: the next process builds its own.
    snapshot = graph_store.latest(folder, GRAPH_MODEL, GRAPH_DIM)
    npy = snapshot.path.with_suffix(".npy")
    npy.write_bytes(npy.read_bytes()[:-64])
    assert graph_store.latest(folder, GRAPH_MODEL, GRAPH_DIM) is None
    second = _service(engine, settings)
    assert second.build_graph() and second.vectors.graphs_built == 1
    assert second.vectors.search(stored["2604.00007"], 1)[0][0] == "2604.00007"


def test_vectors_added_afterwards_are_found_and_a_rebuild_is_shared(engine, settings):
    _random_papers(engine, 1500)
    first, second = _service(engine, settings), _service(engine, settings)
    assert first.build_graph() and second.build_graph()
    assert second.vectors.graphs_built == 0

    added = _random_papers(engine, 50, start=6000, seed=11)
    first.catch_up(), second.catch_up()
    for service in (first, second):
        assert service.vectors.uses_graph and service.vectors.stale_rows == 50
        assert not service.vectors.needs_graph()
        for pid in list(added)[:10]:
            assert service.vectors.search(added[pid], 1)[0][0] == pid
    old = _snapshot_files(settings)

    # Past REBUILD_FRACTION of the graph's rows: one process builds, the other maps it.
    more = _random_papers(engine, int(REBUILD_FRACTION * 1500), start=7000, seed=12)
    first.catch_up(), second.catch_up()
    assert first.vectors.needs_graph() and second.vectors.needs_graph()
    assert first.build_graph() and second.build_graph()
    assert (first.vectors.graphs_built, second.vectors.graphs_built) == (2, 0)
    assert first.vectors.stale_rows == second.vectors.stale_rows == 0
    new = _snapshot_files(settings)
    assert len(new) == 3 and not set(new) & set(old)  # the superseded files are removed
    for pid in list(more)[:10] + list(added)[:10]:
        assert first.vectors.search(more.get(pid, added.get(pid)), 1)[0][0] == pid
        assert second.vectors.search(more.get(pid, added.get(pid)), 1) == \
            first.vectors.search(more.get(pid, added.get(pid)), 1)
