"""Where the keyword index lives on disk, and how it is built, swapped, repaired and caught up.

Layout under ``<data_dir>/index/keyword/``::

    v1/                       one folder per SCHEMA_VERSION: a schema change means a fresh build
      CURRENT                 the name of the generation being served (written tmp + rename)
      lock                    flock: one builder or updater at a time, across processes
      gen-<utc>-<hex>/        a complete tantivy index plus state.json (watermark, counts)
      build-<utc>-<hex>.tmp/  a build in progress; left behind only by a crash

A build writes a whole new generation into a ``.tmp`` folder, commits it, writes its state, renames
it to ``gen-*`` and only then points CURRENT at it: a crash at any moment leaves CURRENT naming the
old, complete generation. Whoever next takes the lock removes leftover ``.tmp`` folders and
generations CURRENT no longer names.

Rows are read in id order, a chunk per transaction, so a build holds no long read transaction
(SQLite's WAL could not checkpoint) and needs memory for one chunk only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import tantivy
from sqlalchemy.engine import Engine

from dailypapers.db.engine import db_now, read_transaction
from dailypapers.db.schema import feature_days, papers
from dailypapers.index.keyword_schema import (
    F_ID,
    F_STAMP,
    SCHEMA,
    SCHEMA_VERSION,
    make_document,
    micros,
    register_analyzers,
    utc,
)

CHUNK = 2000
# The catch-up cursor is the database's clock when the previous look began ("checked_at"). Rows
# are stamped by their writer's clock when its batch starts and become visible at commit, so a row
# can appear later with a stamp a little before that cursor: every update looks back this far
# and re-indexes only rows whose stamp differs from the indexed one. It covers slow batches and
# writer clocks up to this far behind the database's. (A cursor on the newest row stamp instead
# would never move while no new rows arrive, re-checking a whole bulk import at every update.)
OVERLAP = dt.timedelta(seconds=60)
BUILD_HEAP = 256_000_000
UPDATE_HEAP = 50_000_000
STATE = "state.json"
_COLUMNS = [papers.c[name] for name in (
    "id", "title", "abstract", "authors", "categories", "primary_category", "submitted_at",
    "hf_published_at", "github_repo", "upvotes", "local_upvotes", "first_seen_at",
    "row_updated_at", "counts_updated_at",
)]


class IndexMissing(RuntimeError):
    """No complete index at this path: build one (``build`` or ``KeywordIndex.ensure``)."""


TEXT_WATERMARK = "text_watermark"  # state.json: the last commit that changed more than counts

def keyword_dir(data_dir: Path | str) -> Path:
    """The versioned folder for this code's schema, e.g. ``data/index/keyword/v1``."""
    return Path(data_dir) / "index" / "keyword" / f"v{SCHEMA_VERSION}"


@dataclass
class BuildReport:
    generation: Path
    documents: int
    seconds: float
    watermark: dt.datetime | None


@dataclass
class UpdateReport:
    indexed: int  # documents (re)written
    skipped: int  # rows in the overlap window that were already indexed as they are
    removed: int  # documents of papers no longer in the database
    watermark: dt.datetime | None  # the cursor: the next update looks at rows from here - OVERLAP
    seconds: float


# --- files -----------------------------------------------------------------------------------


@contextlib.contextmanager
def locked(path: Path, *, blocking: bool = True) -> Iterator[bool]:
    """Hold ``path/lock``; yields False (holding nothing) if not ``blocking`` and it is taken."""
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing releases the lock


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def current_generation(path: Path) -> Path | None:
    """The generation CURRENT names, if it is complete (has a readable state of our version)."""
    try:
        name = (path / "CURRENT").read_text(encoding="utf-8").strip()
        if not name.startswith("gen-") or "/" in name:
            return None
        state = read_state(path / name)
    except (OSError, UnicodeDecodeError, ValueError):  # missing or damaged by hand
        return None
    if not isinstance(state, dict) or state.get("schema_version") != SCHEMA_VERSION:
        return None
    return path / name


def read_state(gen: Path) -> dict[str, Any]:
    return json.loads((gen / STATE).read_text(encoding="utf-8"))


def write_state(gen: Path, state: dict[str, Any]) -> None:
    _write_atomic(gen / STATE, json.dumps(state, indent=1, sort_keys=True))


def sweep(path: Path) -> list[str]:
    """Remove leftovers of crashed builds and superseded generations. Call with the lock held."""
    current = current_generation(path)
    removed = []
    for child in sorted(path.iterdir()) if path.is_dir() else []:
        stale_build = child.name.startswith("build-") and child.name.endswith(".tmp")
        old_gen = child.name.startswith("gen-") and (current is None or child != current)
        if child.is_dir() and (stale_build or old_gen):
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child.name)
        elif child.name.startswith(".CURRENT.") and child.name.endswith(".tmp"):
            child.unlink(missing_ok=True)
    return removed


def repair(path: Path) -> list[str]:
    """What a starting process does: clear crash leftovers unless a build is running right now."""
    if not path.is_dir():
        return []
    with locked(path, blocking=False) as got:
        return sweep(path) if got else []


def remove_other_versions(path: Path) -> list[str]:
    """Delete sibling folders of other schema versions (``v0`` beside ``v1``) nobody is building
    in; a process of another version still serving from one keeps its open files."""
    removed = []
    for sibling in sorted(path.parent.iterdir()) if path.parent.is_dir() else []:
        versioned = sibling.name.startswith("v") and sibling.name[1:].isdigit()
        if sibling == path or not sibling.is_dir() or not versioned:
            continue
        with locked(sibling, blocking=False) as got:
            if got:
                shutil.rmtree(sibling, ignore_errors=True)
                removed.append(sibling.name)
    return removed


def open_tantivy(gen: Path) -> tantivy.Index:
    index = tantivy.Index.open(str(gen))
    register_analyzers(index)
    return index


# --- reading rows ----------------------------------------------------------------------------


def _db_now(engine: Engine) -> dt.datetime:
    """The clock the rows were stamped with (db_now): one for every process that writes them."""
    with read_transaction(engine) as conn:
        return utc(db_now(conn))


def _with_features(conn: sa.Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add ``first_feature_day`` and ``stamp`` (the newest clock of the paper and its days)."""
    ids = [r["id"] for r in rows]
    agg = {
        pid: (first, last)
        for pid, first, last in conn.execute(
            sa.select(feature_days.c.paper_id, sa.func.min(feature_days.c.day),
                      sa.func.max(feature_days.c.row_updated_at))
            .where(feature_days.c.paper_id.in_(ids)).group_by(feature_days.c.paper_id)
        )
    }
    for row in rows:
        first, last = agg.get(row["id"], (None, None))
        row["first_feature_day"] = first
        stamps = [utc(s) for s in (row["row_updated_at"], row["counts_updated_at"], last)
                  if s is not None]
        row["stamp"] = micros(max(stamps)) if stamps else 0
    return rows


def _id_key(engine: Engine) -> sa.ColumnElement[str]:
    """Paper ids in byte order on both databases: documents then sit in the same order in the
    index whatever PostgreSQL's collation, so equal scores tie-break identically."""
    return papers.c.id.collate("C") if engine.dialect.name == "postgresql" else papers.c.id


def iter_paper_chunks(engine: Engine, chunk: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    """Every paper, in id order, ``chunk`` rows per short read transaction (keyset paging)."""
    key = _id_key(engine)
    last = None
    while True:
        with read_transaction(engine) as conn:
            query = sa.select(*_COLUMNS).order_by(key).limit(chunk)
            if last is not None:
                query = query.where(key > last)
            rows = [dict(r) for r in conn.execute(query).mappings()]
            if not rows:
                return
            yield _with_features(conn, rows)
        last = rows[-1]["id"]


def _rows_by_id(engine: Engine, ids: list[str], chunk: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(ids), chunk):
        with read_transaction(engine) as conn:
            part = ids[start:start + chunk]
            rows = [dict(r) for r in conn.execute(
                sa.select(*_COLUMNS).where(papers.c.id.in_(part))).mappings()]
            rows.sort(key=lambda r: r["id"])  # code-point order on both databases (see _id_key)
            yield _with_features(conn, rows)


def changed_stamps(engine: Engine, since: dt.datetime) -> tuple[dict[str, int], dict[str, int]]:
    """Papers whose row, counts (a vote: ``counts_updated_at``) or one of whose feature days
    changed at or after ``since``, with the stamp their document would get (only ids and clocks
    are read: no abstracts); and their text's stamp, the same without the counts'."""
    out: dict[str, int] = {}
    text: dict[str, int] = {}
    with read_transaction(engine) as conn:
        for pid, stamp, counted in conn.execute(
            sa.select(papers.c.id, papers.c.row_updated_at, papers.c.counts_updated_at)
            .where(sa.or_(papers.c.row_updated_at >= since, papers.c.counts_updated_at >= since))
        ):
            text[pid] = micros(stamp)
            out[pid] = max(text[pid], micros(counted) if counted is not None else 0)
        for pid, stamp in conn.execute(
            sa.select(feature_days.c.paper_id, sa.func.max(feature_days.c.row_updated_at))
            .where(feature_days.c.row_updated_at >= since).group_by(feature_days.c.paper_id)
        ):
            out[pid] = max(out.get(pid, 0), micros(stamp))
            text[pid] = max(text.get(pid, 0), micros(stamp))
    return out, text


# --- building and updating -------------------------------------------------------------------


def _stamp_name(prefix: str) -> str:
    return f"{prefix}-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def build(engine: Engine, path: Path, *, chunk: int = CHUNK, heap: int = BUILD_HEAP,
          only_if_missing: bool = False, _after_chunk: Any = None) -> BuildReport | None:
    """Build a complete new generation from the database and make it the one served.

    With ``only_if_missing``, return None instead when a complete generation exists once the lock
    is ours (two processes starting together build once). ``_after_chunk`` is a test hook, called
    after each chunk is added (to simulate a crash).
    """
    started = time.monotonic()
    path.mkdir(parents=True, exist_ok=True)
    with locked(path):
        if only_if_missing and current_generation(path) is not None:
            return None
        sweep(path)
        tmp = path / (_stamp_name("build") + ".tmp")
        tmp.mkdir()
        writer = None
        try:
            # Taken before reading any row: a row changed while we stream carries a later stamp,
            # so the first update after this build picks it up even if we streamed past it.
            watermark = _db_now(engine)
            index = tantivy.Index(SCHEMA, path=str(tmp), reuse=False)
            register_analyzers(index)
            writer = index.writer(heap_size=heap, num_threads=1)  # one segment order: ties break alike everywhere
            count = 0
            for rows in iter_paper_chunks(engine, chunk):
                for row in rows:
                    writer.add_document(make_document(row))
                count += len(rows)
                if _after_chunk is not None:
                    _after_chunk(count)
            writer.commit()
            writer.wait_merging_threads()
            writer = None
            write_state(tmp, {
                "schema_version": SCHEMA_VERSION,
                "watermark": watermark.isoformat(), TEXT_WATERMARK: watermark.isoformat(),
                "documents": count,
                "built_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            })
            gen = path / ("gen-" + tmp.name[len("build-"):-len(".tmp")])
            os.rename(tmp, gen)
            _fsync_dir(path)
            _write_atomic(path / "CURRENT", gen.name + "\n")
        except BaseException:
            if writer is not None:
                # Stop tantivy's indexing threads first, or they write files into the folder
                # while it is being removed.
                with contextlib.suppress(Exception):
                    writer.rollback()
                with contextlib.suppress(Exception):
                    writer.wait_merging_threads()
            writer = index = None  # noqa: F841 - drop the handles before deleting their files
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        sweep(path)  # the old generation: readers holding it keep their open files (POSIX)
    return BuildReport(gen, count, time.monotonic() - started, watermark)


def update(engine: Engine, path: Path, *, chunk: int = CHUNK,
           overlap: dt.timedelta = OVERLAP) -> UpdateReport:
    """Index papers changed since the served generation's watermark (delete, then add, by id),
    and drop the documents of papers that were deleted.

    Deletions leave no row to find by watermark, so they are found by count: once the changes
    are in, an index holding more documents than the database has papers holds deleted ones,
    and only then are all indexed ids compared with the table's (rare: removing the demo set).
    The watermark moves in the state file only after tantivy's commit: a crash in between makes
    the next update redo the same rows, which is harmless.
    """
    started = time.monotonic()
    with locked(path):
        gen = current_generation(path)
        if gen is None:
            raise IndexMissing(f"no complete keyword index in {path}")
        state = read_state(gen)
        old = dt.datetime.fromisoformat(state["watermark"]) if state.get("watermark") else None
        new = _db_now(engine)  # before reading rows, like build
        index = open_tantivy(gen)
        epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        since = old - overlap if old is not None else epoch
        stamps, text_stamps = changed_stamps(engine, since)
        stale, indexed_stamps = _differing(index.searcher(), stamps, chunk)
        # A document indexed at or after its text's last change differs by its counts only.
        text_changed = any(indexed_stamps.get(pid, -1) < text_stamps[pid] for pid in stale)
        skipped = len(stamps) - len(stale)

        def reindex(writer: Any) -> int:
            count = 0
            for rows in _rows_by_id(engine, stale, chunk):
                for row in rows:
                    writer.delete_documents_by_term(F_ID, row["id"])
                    writer.add_document(make_document(row))
                    count += 1
            return count

        indexed = _commit(index, reindex) if stale else 0
        gone = _deleted(engine, index.searcher())

        def remove(writer: Any) -> int:
            for pid in gone:
                writer.delete_documents_by_term(F_ID, pid)
            return len(gone)

        if gone:
            _commit(index, remove)
        # Where the last change to more than counts (votes, comments) was committed: answers
        # that rank by text alone depend on it only (index/keyword.py's ``text_changes``).
        if gone or text_changed or not state.get(TEXT_WATERMARK):
            state[TEXT_WATERMARK] = new.isoformat()
        state.update(watermark=new.isoformat(), documents=index.searcher().num_docs,
                     updated_at=dt.datetime.now(dt.timezone.utc).isoformat())
        write_state(gen, state)
    return UpdateReport(indexed, skipped, len(gone), new, time.monotonic() - started)


def _commit(index: tantivy.Index, fill: Callable[[Any], int]) -> int:
    """Run ``fill`` with a writer; commit and reload on success, roll back on error."""
    writer = index.writer(heap_size=UPDATE_HEAP, num_threads=1)
    try:
        done = fill(writer)
        writer.commit()
        writer.wait_merging_threads()
    except BaseException:
        with contextlib.suppress(Exception):
            writer.rollback()
        raise
    finally:
        del writer  # releases tantivy's writer lock now, not at the next GC
    index.reload()
    return done


def _deleted(engine: Engine, searcher: tantivy.Searcher) -> list[str]:
    """Indexed ids with no paper row, looked for only when the index has more documents."""
    with read_transaction(engine) as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar() or 0
        if searcher.num_docs <= count:
            return []
        known = set(conn.execute(sa.select(papers.c.id)).scalars())
    found = searcher.search(tantivy.Query.all_query(), limit=searcher.num_docs, count=False)
    indexed = {searcher.doc(address)[F_ID][0] for _, address in found.hits}
    return sorted(indexed - known)


def _differing(searcher: tantivy.Searcher, stamps: dict[str, int], chunk: int
               ) -> tuple[list[str], dict[str, int]]:
    """The ids whose indexed stamp is not ``stamps[id]`` (or that are not indexed at all), and
    the indexed stamps of those that are."""
    ids = sorted(stamps)
    stale: list[str] = []
    found: dict[str, int] = {}
    for start in range(0, len(ids), chunk):
        part = ids[start:start + chunk]
        query = tantivy.Query.term_set_query(SCHEMA, F_ID, part)
        addresses = [a for _, a in searcher.search(query, limit=len(part), count=False).hits]
        values = searcher.fast_field_values(F_STAMP, addresses) if addresses else []
        indexed = {searcher.doc(a)[F_ID][0]: v for a, v in zip(addresses, values)}
        stale.extend(pid for pid in part if indexed.get(pid) != stamps[pid])
        found.update(indexed)
    return stale, found
