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
background, proposes candidates that the exact vectors re-rank.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from dailypapers.db.engine import db_now, read_transaction, write_transaction
from dailypapers.db.schema import embed_claims, paper_embeddings, papers
from dailypapers.index.ann import MAX_WANT, Graph
from dailypapers.index.embedder import Embedder, document_text
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


class VectorIndex:
    """All vectors of one model, in memory, for exact cosine search. Thread-safe for readers."""

    def __init__(self, model: str, dim: int, ann_min_vectors: int = ANN_MIN_VECTORS) -> None:
        self.model = model
        self.dim = dim
        self.ann_min_vectors = ann_min_vectors
        self._matrix = np.zeros((0, dim), dtype=np.float32)
        self._ids: list[str] = []
        self._pos: dict[str, int] = {}
        self._size = 0
        self.watermark = 0
        self._lock = threading.Lock()  # one writer at a time; readers take a snapshot
        self._graph: Graph | None = None  # serves searches once it covers every row
        self._building: set[int] | None = None  # rows changed while a graph is being built
        self._stale_build = False  # rows were dropped while it was being built

    def __len__(self) -> int:
        return self._size

    def catch_up(self, conn: Connection, chunk: int = 20000) -> int:
        """Load vectors added since the watermark; returns how many rows were read."""
        with self._lock:
            if self._size and self._stored_count(conn) < self._size:
                self._reset()  # rows were deleted (e.g. demo removed): reload from scratch
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
                    return total
                self._apply(rows)
                total += len(rows)

    def _stored_count(self, conn: Connection) -> int:
        return conn.execute(
            sa.select(sa.func.count()).select_from(paper_embeddings)
            .where(paper_embeddings.c.model == self.model)
        ).scalar() or 0

    def _reset(self) -> None:
        self._graph, self._size = None, 0  # first: readers in flight then find nothing to read
        self._matrix = np.zeros((0, self.dim), dtype=np.float32)
        self._ids, self._pos, self.watermark = [], {}, 0
        self._stale_build = True  # a build in progress saw the old rows; build_graph drops it

    def _apply(self, rows: list) -> None:  # type: ignore[type-arg]
        vectors = np.frombuffer(b"".join(r[2] for r in rows), dtype="<f2").reshape(-1, self.dim)
        new_rows = [i for i, r in enumerate(rows) if r[1] not in self._pos]
        needed = self._size + len(new_rows)
        if needed > len(self._matrix):
            grown = np.zeros((max(needed, int(len(self._matrix) * 1.5) + 1024), self.dim),
                             dtype=np.float32)
            grown[: self._size] = self._matrix[: self._size]
            self._matrix = grown
        changed: list[int] = []
        for i, (seq, pid, _blob) in enumerate(rows):
            slot = self._pos.get(pid)
            if slot is None:
                slot = self._size
                self._ids.append(pid)
                self._pos[pid] = slot
                self._matrix[slot] = vectors[i]
                self._size += 1  # published after the row is written
            else:
                self._matrix[slot] = vectors[i]
            changed.append(slot)
            self.watermark = max(self.watermark, seq)
        if self._building is not None:
            self._building.update(changed)
        if self._graph is not None and changed:
            slots = np.unique(np.array(changed, dtype=np.int64))
            try:
                self._graph.add(slots, self._matrix[slots], live=True)
            except Exception as e:  # GraphFull, or usearch failing: never serve a partial graph
                self._graph = None  # the exact scan answers; the index worker builds a new one
                log.info("vector graph dropped (%s); it will be rebuilt", e)

    # --- the approximate graph, for large collections --------------------------------------

    @property
    def uses_graph(self) -> bool:
        return self._graph is not None

    @property
    def graph_bytes(self) -> int:
        graph = self._graph
        return graph.memory_bytes if graph is not None else 0

    def drop_graph(self) -> None:
        """Back to the exact scan (for comparisons); ``needs_graph`` may ask for it again."""
        with self._lock:
            self._graph = None

    def needs_graph(self) -> bool:
        return (self._graph is None and self._building is None
                and self._size >= self.ann_min_vectors > 0)

    def build_graph(self) -> bool:
        """Build the HNSW graph over the current rows (slow: call from a background thread).
        Rows that change meanwhile are added at the end; returns whether the graph now serves."""
        with self._lock:
            if not self.needs_graph():
                return False
            matrix, size = self._matrix, self._size
            self._building, self._stale_build = set(), False
        graph = Graph(self.dim)
        try:
            graph.add(np.arange(size), matrix[:size])  # readers keep the exact scan meanwhile
        except BaseException:
            with self._lock:
                self._building = None
            raise
        with self._lock:
            changed, self._building = self._building, None
            if self._stale_build:
                return False
            late = sorted(changed | set(range(size, self._size)))
            if late:
                slots = np.array(late, dtype=np.int64)
                graph.add(slots, self._matrix[slots])
            self._graph = graph
        log.info("vector graph built over %d rows (%.0f MiB)", len(graph),
                 graph.memory_bytes / 2**20)
        return True

    def vector_of(self, paper_id: str) -> np.ndarray | None:
        slot = self._pos.get(paper_id)
        return None if slot is None else self._matrix[slot].copy()

    def search(self, query: np.ndarray, k: int, exclude: set[str] | None = None
               ) -> list[tuple[str, float]]:
        # One snapshot: a reset or a growth may replace these while we read.
        graph, matrix, ids = self._graph, self._matrix, self._ids
        size = min(self._size, len(matrix), len(ids))
        want = min(size, k + len(exclude or ()))
        if want <= 0 or k <= 0:
            return []
        query = query.astype(np.float32)
        if graph is not None and want <= MAX_WANT:
            rows = graph.candidates(query, want)
            rows = rows[(rows >= 0) & (rows < size)]
            scores = matrix[rows] @ query  # exact cosines re-rank the graph's candidates
        else:
            scores = matrix[:size] @ query
            rows = np.argpartition(-scores, want - 1)[:want] if want < size else np.arange(size)
            scores = scores[rows]
        order = np.argsort(-scores, kind="stable")
        out = [(ids[rows[i]], float(scores[i])) for i in order
               if not exclude or ids[rows[i]] not in exclude]
        return out[:k]
