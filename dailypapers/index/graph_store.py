"""The saved vector graph of a node: built by one process, memory-mapped read-only by all.

Building the HNSW graph costs 15-20 s of one core per 100,000 vectors, and the graph (81 MiB)
and the float32 vectors it re-ranks with (146 MiB) would otherwise be a copy in every web
process. So the first process that needs a graph builds it under a file lock and saves it here;
the others (and the builder itself) map the files, and the page cache holds one copy per node.

Layout under ``<data_dir>/index/vectors/v1/<model>-<dim>/``::

    lock                           flock (keyword_store.locked): one builder at a time
    g-<count>-<watermark>-<hash>.usearch   the graph; its keys are row numbers of
    g-<count>-<watermark>-<hash>.npy       the float32 vectors it was built from
    g-<count>-<watermark>-<hash>.json      the rows' paper ids, model, dim, sizes; written last
    .<name>.<hex>.tmp              a file being written; left behind only by a crash

A snapshot is its ``.json``: written after the other two are complete and renamed, so a crash
at any moment leaves either a whole snapshot or leftovers that nothing reads. Whoever next takes
the lock removes leftovers and every snapshot but the newest (a process still mapping an old one
keeps its pages until it lets go: unlinking does not pull mapped files away on POSIX).

A snapshot says which vectors it holds, not that they are current: a process uses its rows only
where its own vectors (from ``paper_embeddings``) are the same, row by row (vectors.py), so a
stale file never answers for other vectors.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dailypapers.index.ann import Graph

# In the folder's name and each description: bump it when ann.py's graph parameters or these
# files change, so a process of the new code never maps an old graph (the old folder is left).
FORMAT = 1
SUFFIXES = (".usearch", ".npy", ".json")


def graph_dir(data_dir: Path | str, model: str, dim: int) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("._") or "model"
    return Path(data_dir) / "index" / "vectors" / f"v{FORMAT}" / f"{slug}-{dim}"


@dataclass(frozen=True)
class Snapshot:
    path: Path  # the .json; the other files share its stem
    ids: list[str]
    watermark: int
    built_at: float

    @property
    def name(self) -> str:
        return self.path.stem

    def open(self, dim: int) -> tuple[Graph, np.ndarray]:
        """The graph and its vectors, both memory-mapped read-only."""
        graph = Graph(dim, view=str(self.path.with_suffix(".usearch")))
        matrix = np.load(self.path.with_suffix(".npy"), mmap_mode="r")
        if matrix.shape != (len(self.ids), dim) or len(graph) != len(self.ids):
            raise ValueError(f"{self.name}: files do not match their description")
        return graph, matrix


def latest(folder: Path, model: str, dim: int) -> Snapshot | None:
    """The newest complete snapshot of this model's vectors, if any."""
    found = [snap for path in folder.glob("g-*.json") if (snap := _read(path, model, dim))]
    return max(found, key=lambda s: s.built_at, default=None)


def _read(path: Path, model: str, dim: int) -> Snapshot | None:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        sizes = {suffix: path.with_suffix(suffix).stat().st_size for suffix in SUFFIXES[:2]}
    except (OSError, ValueError):  # a half-removed snapshot, or damaged by hand
        return None
    fits = (isinstance(meta, dict) and meta.get("format") == FORMAT and meta.get("model") == model
            and meta.get("dim") == dim and meta.get("sizes") == sizes
            and isinstance(meta.get("ids"), list) and len(meta["ids"]) == meta.get("count"))
    return Snapshot(path, meta["ids"], int(meta["watermark"]), float(meta["built_at"])) if fits else None


def save(folder: Path, model: str, dim: int, watermark: int, ids: list[str],
         matrix: np.ndarray, graph: Graph) -> Snapshot:
    """Write a snapshot atomically (call with the lock held)."""
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.blake2b("\n".join(ids).encode(), digest_size=4)
    digest.update(np.ascontiguousarray(matrix).data)
    stem = f"g-{len(ids)}-{watermark}-{digest.hexdigest()}"
    final = folder / f"{stem}.json"
    _write(final.with_suffix(".usearch"), graph.save)
    _write(final.with_suffix(".npy"), lambda tmp: _save_npy(tmp, matrix))
    sizes = {suffix: final.with_suffix(suffix).stat().st_size for suffix in SUFFIXES[:2]}
    built_at = time.time()
    meta = {"format": FORMAT, "model": model, "dim": dim, "watermark": watermark,
            "count": len(ids), "built_at": built_at, "sizes": sizes, "ids": ids}
    _write(final, lambda tmp: Path(tmp).write_text(json.dumps(meta), encoding="utf-8"))
    return Snapshot(final, list(ids), watermark, built_at)


def _save_npy(path: str, matrix: np.ndarray) -> None:
    with open(path, "wb") as fh:  # a file, not a name: np.save would append ".npy" to it
        np.save(fh, np.ascontiguousarray(matrix, dtype=np.float32))


def _write(path: Path, write) -> None:  # type: ignore[no-untyped-def]
    """``write(tmp_path)``, then fsync and rename over ``path``, then fsync the folder."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        write(str(tmp))
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sweep(folder: Path, keep: Snapshot | None) -> list[str]:
    """Remove crash leftovers and every snapshot but ``keep`` (call with the lock held)."""
    removed = []
    for child in sorted(folder.iterdir()) if folder.is_dir() else []:
        leftover = child.name.startswith(".") and child.name.endswith(".tmp")
        superseded = (child.name.startswith("g-") and child.suffix in SUFFIXES
                      and (keep is None or child.stem != keep.name))
        if child.is_file() and (leftover or superseded):
            child.unlink(missing_ok=True)
            removed.append(child.name)
    return removed
