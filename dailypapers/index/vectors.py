"""Paper vectors: computed in the background, stored in the database, scanned exactly in memory.

Storage: ``paper_embeddings`` holds one float16 vector per (paper, model) with the sha256 of the
text it came from, so unchanged text is never embedded twice and a model change means new rows
rather than mixed vectors. Its ``created_at`` is when that text was read (``db_now``, the clock
rows are stamped with): a paper stamped later is pending again. (Comparing with the paper's own
stamp for equality would be exact, but SQLite stores the importer's fast-path datetimes and
SQLAlchemy's in different text forms, so equal instants compare unequal.)

The in-memory ``VectorIndex`` is derived: it loads the rows of one model and catches up by the
``seq`` watermark. An exact scan of 100k × 384 float32 takes a few ms here, with recall 1.0 by
construction; from ``ann_min_vectors`` rows on, an HNSW graph (ann.py), built in the
background, proposes candidates that the exact vectors re-rank. The graph and the vectors it
was built from are one per node, memory-mapped from ``<data_dir>/index/vectors/``
(graph_store.py); each process copies only the rows that differ from them (``_Layout``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from dailypapers.db.engine import db_now, read_transaction, write_transaction
from dailypapers.db.schema import embed_claims, paper_embeddings, papers
from dailypapers.index import graph_store
from dailypapers.index.ann import MAX_WANT, Graph
from dailypapers.index.embedder import Embedder, document_text
from dailypapers.index.keyword_store import locked
from dailypapers.settings import ANN_MIN_VECTORS

log = logging.getLogger("dailypapers.index")

# A batch of 32 takes ~1.5 s here (10 s on a crowded machine); a claim older than this is a dead
# process's, and its papers are anyone's again (a run after a crash leaves them till then).
CLAIM_SECONDS = 120.0


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Pending(NamedTuple):
    paper_id: str
    text: str
    old_hash: str | None  # of the text embedded last time, if any
    read_at: dt.datetime  # when the text was read (db_now): what the vector will be stamped


def pending(conn: Connection, model: str, limit: int) -> list[Pending]:
    """Papers whose vector for ``model`` is missing or may be stale, newest changes first;
    papers another process is embedding now (an unexpired claim) are left to it."""
    read_at = db_now(conn)  # before the rows: a change committed after them is stamped later
    e = paper_embeddings.alias("e")
    claimed = sa.select(embed_claims.c.paper_id).where(
        embed_claims.c.paper_id == papers.c.id, embed_claims.c.model == model,
        embed_claims.c.lease_until > read_at)
    rows = conn.execute(
        sa.select(papers.c.id, papers.c.title, papers.c.abstract, e.c.text_hash)
        .select_from(papers.outerjoin(e, sa.and_(e.c.paper_id == papers.c.id, e.c.model == model)))
        .where(sa.or_(e.c.seq.is_(None), papers.c.row_updated_at > e.c.created_at),
               ~sa.exists(claimed))
        .order_by(papers.c.row_updated_at.desc(), papers.c.id)
        .limit(limit)
    ).all()
    return [Pending(pid, document_text(title, abstract), old, read_at)
            for pid, title, abstract, old in rows]


def claim(conn: Connection, model: str, ids: list[str], seconds: float = CLAIM_SECONDS) -> set[str]:
    """Of ``ids``, those now this process's to embed: unclaimed, or their claim expired (its
    process died). Two processes offered the same papers get disjoint sets (the primary key)."""
    if not ids:
        return set()
    now = db_now(conn)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(embed_claims).values(
        [{"paper_id": pid, "model": model, "lease_until": now + dt.timedelta(seconds=seconds)}
         for pid in ids])
    won = conn.execute(insert.on_conflict_do_update(
        index_elements=[embed_claims.c.paper_id, embed_claims.c.model],
        set_={"lease_until": insert.excluded.lease_until},
        where=embed_claims.c.lease_until <= now).returning(embed_claims.c.paper_id))
    return {row[0] for row in won}


def release(conn: Connection, model: str, ids: list[str]) -> None:
    conn.execute(embed_claims.delete().where(embed_claims.c.model == model,
                                             embed_claims.c.paper_id.in_(ids)))


def store_vectors(
    conn: Connection, model: str, dim: int, rows: list[tuple[str, str, np.ndarray]],
    read_at: dt.datetime | None = None,
) -> None:
    """Replace the vectors of these papers: (paper id, text hash, vector). ``read_at``: when
    their text was read (default: now)."""
    ids = [pid for pid, _, _ in rows]
    stamp = read_at or db_now(conn)
    conn.execute(
        paper_embeddings.delete().where(
            paper_embeddings.c.model == model, paper_embeddings.c.paper_id.in_(ids)
        )
    )
    conn.execute(
        paper_embeddings.insert(),
        [
            {"paper_id": pid, "model": model, "dim": dim, "text_hash": digest,
             "vector": vec.astype("<f2").tobytes(), "created_at": stamp}
            for pid, digest, vec in rows
        ],
    )


def touch(conn: Connection, model: str, ids: list[str], read_at: dt.datetime) -> None:
    """Mark vectors as checked: the paper row changed but not the embedded text."""
    conn.execute(
        paper_embeddings.update()
        .where(paper_embeddings.c.model == model, paper_embeddings.c.paper_id.in_(ids))
        .values(created_at=read_at)
    )


def embed_pending(
    engine: Engine,
    embedder: Embedder,
    *,
    batch_size: int = 32,
    max_batches: int | None = None,
    stop: threading.Event | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Embed what is missing or changed, a batch at a time; returns how many were embedded.

    Each batch is claimed first (``embed_claims``), so several processes running this at once
    (workers, ``reindex --processes``) embed different papers, and a batch whose process died
    is taken again once its claim expires."""
    done = batches = 0
    while not (stop and stop.is_set()) and (max_batches is None or batches < max_batches):
        with read_transaction(engine) as conn:
            offered = pending(conn, embedder.name, batch_size)
        if not offered:
            break
        with write_transaction(engine, changes=None) as conn:  # claims show nowhere
            mine = claim(conn, embedder.name, [p.paper_id for p in offered])
        todo = [p for p in offered if p.paper_id in mine]
        if not todo:
            continue  # another process claimed these first: the next read skips them
        try:
            stored = _embed_batch(engine, embedder, todo)
        except BaseException:
            with write_transaction(engine, changes=None) as conn:
                release(conn, embedder.name, [p.paper_id for p in todo])
            raise
        done += stored
        batches += 1
        if on_batch:
            on_batch(stored)
    return done


def _embed_batch(engine: Engine, embedder: Embedder, todo: list[Pending]) -> int:
    """Embed and store one claimed batch (and drop its claims); returns how many were embedded."""
    # Stamped with the time the text was read, not written: a paper that changes while its
    # old text is being embedded is stamped later, so it stays pending.
    read_at = todo[0].read_at
    unchanged = [p.paper_id for p in todo if p.old_hash == text_hash(p.text)]
    changed = [p for p in todo if p.old_hash != text_hash(p.text)]
    vectors = embedder.embed([p.text for p in changed]) if changed else None
    # New vectors reach answers only through a process's VectorIndex (search, similar papers),
    # whose catch-up moves the cache key (SearchService.state_token): no data version.
    with write_transaction(engine, changes=None) as conn:
        if unchanged:
            touch(conn, embedder.name, unchanged, read_at)
        if changed:
            store_vectors(conn, embedder.name, embedder.dim, [
                (p.paper_id, text_hash(p.text), vectors[i]) for i, p in enumerate(changed)
            ], read_at)
        release(conn, embedder.name, [p.paper_id for p in todo])
    return len(changed)


# Rows the graph lacks (new or changed since it was built, or its rows we lack) are scanned
# exactly beside it; past this share of the graph's rows a new graph is built. At 100,000 rows
# that is a 10,000-row scan (~0.5 ms a query) and a rebuild per ~10,000 new papers.
REBUILD_FRACTION = 0.1


class _Layout:
    """The rows a search reads, by slot: ``base`` (the graph's rows, read-only, memory-mapped
    from the node's saved graph) then ``tail`` (this process's own copy of every row the graph
    lacks). Without a graph everything is tail: the exact scan. Replaced whole by a reset or a
    new graph; a catch-up appends to the tail and marks superseded base rows not ``live``."""

    def __init__(self, dim: int, base: np.ndarray | None = None, live: np.ndarray | None = None,
                 graph: Graph | None = None, ids: list[str] | None = None) -> None:
        self.base = base if base is not None else np.zeros((0, dim), dtype=np.float32)
        self.live = live if live is not None else np.ones(len(self.base), dtype=bool)
        self.graph = graph
        self.tail = np.zeros((0, dim), dtype=np.float32)
        self.ids: list[str] = ids if ids is not None else []
        self.pos = {pid: slot for slot, pid in enumerate(self.ids) if self.live[slot]}
        self.size = len(self.base)  # slots in use: published after the row is written
        self.dead = int(len(self.live) - self.live.sum())
        # While a process starts from the saved graph: its rows not yet confirmed equal to the
        # database's (not live until then), by id.
        self.unconfirmed: dict[str, int] | None = None

    @property
    def tail_rows(self) -> int:
        return self.size - len(self.base)

    @property
    def stale(self) -> int:
        """Rows the graph does not answer for: scanned exactly, or wasted candidates."""
        return self.tail_rows + self.dead

    def vectors_at(self, slots: np.ndarray) -> np.ndarray:
        nb = len(self.base)
        out = np.empty((len(slots), self.base.shape[1]), dtype=np.float32)
        in_base = slots < nb
        out[in_base] = self.base[slots[in_base]]
        out[~in_base] = self.tail[slots[~in_base] - nb]
        return out


class VectorIndex:
    """All vectors of one model, in memory, for exact cosine search. Thread-safe for readers.

    With ``graph_dir`` (graph_store.py), the graph is one per node: built by the first process
    that needs it, saved there, and memory-mapped by every process with its vectors."""

    def __init__(self, model: str, dim: int, ann_min_vectors: int = ANN_MIN_VECTORS,
                 graph_dir: Path | None = None) -> None:
        self.model = model
        self.dim = dim
        self.ann_min_vectors = ann_min_vectors
        self.graph_dir = graph_dir
        self._layout = _Layout(dim)
        self.watermark = 0
        self._lock = threading.Lock()  # one writer at a time; readers take a snapshot
        self._building = False
        self.graphs_built = 0  # by this process (the others were another's, mapped)
        # Moves whenever searches may rank differently with the same rows (a graph installed
        # or dropped): part of index/search.py's ``index_tokens``.
        self.layouts = 0

    def __len__(self) -> int:
        layout = self._layout
        return layout.size - layout.dead

    def catch_up(self, conn: Connection, chunk: int = 20000) -> int:
        """Load vectors added since the watermark; returns how many rows were read."""
        with self._lock:
            if len(self) and self._stored_count(conn) < len(self):
                self._reset()  # rows were deleted (e.g. demo removed): reload from scratch
            if not self.watermark and not self._layout.size:
                self._start_from_saved_graph()
            total = 0
            while True:
                rows = conn.execute(
                    sa.select(paper_embeddings.c.seq, paper_embeddings.c.paper_id,
                              paper_embeddings.c.vector)
                    .where(paper_embeddings.c.model == self.model,
                           paper_embeddings.c.seq > self.watermark)
                    .order_by(paper_embeddings.c.seq).limit(chunk)
                ).all()
                if not rows:
                    self._layout.unconfirmed = None  # the saved rows not seen are not ours
                    return total
                self._apply(rows)
                total += len(rows)

    def _start_from_saved_graph(self) -> None:
        """Start from the node's saved graph and vectors, if there is one: the first catch-up
        then keeps only the rows the database has unchanged (compared bit for bit) and copies
        just the others, instead of all of them, into this process."""
        folder = self.graph_dir
        if folder is None or self.ann_min_vectors <= 0 or not folder.is_dir():
            return
        snapshot = graph_store.latest(folder, self.model, self.dim)
        if snapshot is None or len(snapshot.ids) < self.ann_min_vectors:
            return
        try:
            graph, base = snapshot.open(self.dim)
        except (OSError, ValueError) as e:  # superseded and removed meanwhile, or damaged
            log.info("saved vector graph %s not used: %s", snapshot.name, e)
            return
        layout = _Layout(self.dim, base, np.zeros(len(snapshot.ids), dtype=bool), graph,
                         list(snapshot.ids))
        layout.unconfirmed = {pid: slot for slot, pid in enumerate(snapshot.ids)}
        self._layout = layout
        self.layouts += 1
        log.info("starting from the saved vector graph %s", snapshot.name)

    def _stored_count(self, conn: Connection) -> int:
        return conn.execute(
            sa.select(sa.func.count()).select_from(paper_embeddings)
            .where(paper_embeddings.c.model == self.model)
        ).scalar() or 0

    def _reset(self) -> None:
        self._layout = _Layout(self.dim)  # one swap: readers in flight keep the old rows
        self.layouts += 1
        self.watermark = 0

    def _apply(self, rows: list) -> None:  # type: ignore[type-arg]
        layout = self._layout
        vectors = np.frombuffer(b"".join(r[2] for r in rows), dtype="<f2").reshape(-1, self.dim)
        nb = len(layout.base)
        saved = np.full(len(rows), -1, dtype=np.int64)  # the saved row this one confirms
        if layout.unconfirmed:
            saved[:] = [layout.unconfirmed.pop(r[1], -1) if r[1] not in layout.pos else -1
                        for r in rows]
            known = np.flatnonzero(saved >= 0)
            same = (layout.base[saved[known]] == vectors[known]).all(axis=1)
            saved[known[~same]] = -1
        new_rows = sum(1 for i, r in enumerate(rows)
                       if saved[i] < 0 and layout.pos.get(r[1], -1) < nb)
        needed = layout.tail_rows + new_rows
        if needed > len(layout.tail):
            grown = np.zeros((max(needed, int(len(layout.tail) * 1.5) + 1024), self.dim),
                             dtype=np.float32)
            grown[: layout.tail_rows] = layout.tail[: layout.tail_rows]
            layout.tail = grown
        for i, (seq, pid, _blob) in enumerate(rows):
            slot = layout.pos.get(pid)
            if saved[i] >= 0:  # as saved: the mapped row serves, nothing is copied
                layout.live[saved[i]] = True
                layout.dead -= 1
                layout.pos[pid] = int(saved[i])
            elif slot is not None and slot >= nb:
                layout.tail[slot - nb] = vectors[i]  # already ours: changed in place
            else:
                if slot is not None:  # the graph's row is superseded: scanned in the tail
                    layout.live[slot] = False
                    layout.dead += 1
                slot = layout.size
                layout.tail[slot - nb] = vectors[i]
                layout.ids.append(pid)
                layout.pos[pid] = slot
                layout.size += 1  # published after the row is written
            self.watermark = max(self.watermark, seq)

    # --- the approximate graph, for large collections --------------------------------------

    @property
    def uses_graph(self) -> bool:
        return self._layout.graph is not None

    @property
    def graph_bytes(self) -> int:
        graph = self._layout.graph
        return graph.memory_bytes if graph is not None else 0

    @property
    def stale_rows(self) -> int:
        """Rows the graph does not answer for (all of them without a graph)."""
        return self._layout.stale

    def drop_graph(self) -> None:
        """Back to the exact scan (for comparisons); ``needs_graph`` may ask for it again."""
        with self._lock:
            self._layout.graph = None
            self.layouts += 1

    @property
    def graph_state(self) -> str:
        """"building" (a graph is due or being built: searches scan exactly meanwhile),
        "graph" (searches use it) or "exact" (too few vectors to need one)."""
        if self._building or self.needs_graph():
            return "building"
        return "graph" if self.uses_graph else "exact"

    def needs_graph(self) -> bool:
        """No graph yet past the threshold, or too many rows it does not answer for."""
        layout = self._layout
        if self._building or not 0 < self.ann_min_vectors <= len(self):
            return False
        graph_rows = len(layout.base) - layout.dead
        return layout.graph is None or layout.stale > REBUILD_FRACTION * graph_rows

    def build_graph(self) -> bool:
        """Serve from a graph over the current rows (slow: call from a background thread):
        the node's saved one if it fits them, else one built here (and saved for the others).
        Rows that change meanwhile are scanned exactly; returns whether a graph now serves."""
        with self._lock:
            if not self.needs_graph():
                return False
            self._building = True
        try:
            if self.graph_dir is None:
                return self._install(*self._build_from_current())
            with locked(self.graph_dir):  # another process building now: wait, then map its graph
                snapshot = graph_store.latest(self.graph_dir, self.model, self.dim)
                if snapshot is not None and self._install(snapshot.ids, *snapshot.open(self.dim),
                                                          only_if_fits=True):
                    log.info("vector graph %s mapped (built before)", snapshot.name)
                    graph_store.sweep(self.graph_dir, keep=snapshot)
                    return True
                ids, graph, matrix, watermark = self._build_from_current(with_watermark=True)
                snapshot = graph_store.save(self.graph_dir, self.model, self.dim, watermark,
                                            ids, matrix, graph)
                graph_store.sweep(self.graph_dir, keep=snapshot)
                del graph, matrix  # this process's copies: it maps the saved files like the others
                return self._install(snapshot.ids, *snapshot.open(self.dim))
        finally:
            self._building = False

    def _build_from_current(self, with_watermark: bool = False):  # type: ignore[no-untyped-def]
        with self._lock:  # a copy: catch-ups may change rows while the graph is built
            layout, watermark = self._layout, self.watermark
            slots = np.array(sorted(layout.pos.values()), dtype=np.int64)
            ids = [layout.ids[slot] for slot in slots]
            matrix = layout.vectors_at(slots)
        graph = Graph(self.dim)
        graph.add(np.arange(len(ids)), matrix)  # readers keep what they have meanwhile
        self.graphs_built += 1
        log.info("vector graph built over %d rows (%.0f MiB)", len(graph),
                 graph.memory_bytes / 2**20)
        return (ids, graph, matrix, watermark) if with_watermark else (ids, graph, matrix)

    def _install(self, ids: list[str], graph: Graph, base: np.ndarray, *,
                 only_if_fits: bool = False) -> bool:
        """Serve ``graph`` over ``base`` (rows of ``ids``) where its rows equal ours; our other
        rows become the tail. ``only_if_fits``: not if that leaves too many rows stale."""
        with self._lock:
            current = self._layout
            ours = np.array([current.pos.get(pid, -1) for pid in ids], dtype=np.int64)
            live = ours >= 0
            for start in range(0, len(ids), 8192):  # bit for bit: both are float16 read as float32
                part = slice(start, start + 8192)
                known = np.flatnonzero(live[part]) + start
                same = (current.vectors_at(ours[known]) == base[known]).all(axis=1)
                live[known[~same]] = False
            layout = _Layout(self.dim, base, live, graph, list(ids))
            covered = set(ours[live].tolist())
            rest = np.array([slot for slot in sorted(current.pos.values()) if slot not in covered],
                            dtype=np.int64)
            layout.tail = current.vectors_at(rest)
            for slot in rest.tolist():
                layout.pos[current.ids[slot]] = layout.size
                layout.ids.append(current.ids[slot])
                layout.size += 1
            if only_if_fits and (not live.any() or
                                 layout.stale > REBUILD_FRACTION * (len(ids) - layout.dead)):
                return False
            self._layout = layout
            self.layouts += 1
            return True

    def vector_of(self, paper_id: str) -> np.ndarray | None:
        layout = self._layout
        slot = layout.pos.get(paper_id)
        return None if slot is None else layout.vectors_at(np.array([slot]))[0]

    def search(self, query: np.ndarray, k: int, exclude: set[str] | None = None
               ) -> list[tuple[str, float]]:
        layout = self._layout  # one snapshot: a reset or a new graph replaces it whole
        size = layout.size  # first: rows below it are written in whichever tail we then read
        base, live, graph, tail, ids = (layout.base, layout.live, layout.graph, layout.tail,
                                        layout.ids)
        nb = len(base)
        size = min(size, nb + len(tail), len(ids))
        want = min(size - layout.dead, k + len(exclude or ()))
        if want <= 0 or k <= 0:
            return []
        query = query.astype(np.float32)
        tail_scores = tail[: size - nb] @ query
        if graph is not None and want <= MAX_WANT:
            rows = graph.candidates(query, want)
            rows = rows[(rows >= 0) & (rows < nb)]
            rows = rows[live[rows]]
            # exact cosines re-rank the graph's candidates; the rows it lacks are scanned
            scores = np.concatenate([base[rows] @ query, tail_scores])
            rows = np.concatenate([rows, np.arange(nb, size)])
        else:
            scores = np.concatenate([base @ query, tail_scores]) if nb else tail_scores
            if layout.dead:
                scores[:nb][~live] = -np.inf
            rows = np.argpartition(-scores, want - 1)[:want] if want < size else np.arange(size)
            scores = scores[rows]
        order = np.argsort(-scores, kind="stable")
        out = [(ids[rows[i]], float(scores[i])) for i in order
               if scores[i] > -np.inf and (not exclude or ids[rows[i]] not in exclude)]
        return out[:k]
