"""`dailypapers import PATH...`: files, folders and globs in, batches committed, a run recorded.

Each batch is committed on its own, together with its counts on the run row, so a crash leaves
only whole batches behind and re-running the same import finishes the job (the upsert is
idempotent).
"""

from __future__ import annotations

import glob
import gzip
import multiprocessing as mp
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from queue import Empty
from types import ModuleType
from typing import IO

from sqlalchemy.engine import Engine

from dailypapers.db.engine import write_transaction
from dailypapers.ingest import arxiv_atom, arxiv_oai, arxiv_rss, hf_daily, kaggle
from dailypapers.ingest import hf_paper_info
from dailypapers.ingest.records import ParsedItem, Refusal
from dailypapers.ingest.service import Counts, finish_run, record_progress, start_run, store_items
from dailypapers.ingest.validate import RecordLimits
from dailypapers.settings import get_settings

# Sniffing order matters: the XML formats are unambiguous, Kaggle's JSON lines before HF's JSON.
FORMATS: dict[str, ModuleType] = {
    "arxiv-oai": arxiv_oai,
    "arxiv-atom": arxiv_atom,
    "arxiv-rss": arxiv_rss,
    "kaggle": kaggle,
    "hf-daily": hf_daily,
    "hf-paper-info": hf_paper_info,  # one object, no "data"/"paper": after hf-daily
}
_SKIP_SUFFIXES = {".md", ".txt", ".npy", ".tsv", ".py"}

Progress = Callable[[int, str], None]


class ImportError_(Exception):
    """A path that cannot be imported at all (missing, unreadable, unknown format)."""


def expand_paths(patterns: Iterable[str | Path]) -> list[Path]:
    found: list[Path] = []
    for pattern in patterns:
        text = str(pattern)
        matches = [Path(p) for p in sorted(glob.glob(text))] if glob.has_magic(text) else [Path(text)]
        if not matches:
            raise ImportError_(f"{text}: no file matches")
        for path in matches:
            if path.is_dir():
                found.extend(
                    p for p in sorted(path.rglob("*"))
                    if p.is_file() and not p.name.startswith(".") and p.suffix not in _SKIP_SUFFIXES
                )
            elif path.is_file():
                found.append(path)
            else:
                raise ImportError_(f"{path}: no such file or folder")
    return list(dict.fromkeys(found))


def open_binary(path: Path) -> IO[bytes]:
    raw = path.open("rb")
    magic = raw.read(2)
    raw.seek(0)
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    return raw


def sniff(path: Path) -> str:
    with open_binary(path) as stream:
        head = stream.read(4096)
    for name, module in FORMATS.items():
        if module.looks_like(head):
            return name
    raise ImportError_(f"{path}: not a format dailypapers can import")


def iter_file(path: Path, fmt: str | None = None) -> Iterator[ParsedItem | Refusal]:
    module = FORMATS[fmt or sniff(path)]
    with open_binary(path) as stream:
        yield from module.parse(stream, file_label=str(path))


def import_paths(
    engine: Engine,
    patterns: Iterable[str | Path],
    *,
    demo: bool = False,
    batch_size: int = 2000,
    progress: Progress | None = None,
    source: str = "import",
    parse_ahead: bool = True,
    limits: RecordLimits | None = None,
) -> tuple[int, Counts]:
    """Import files into the database, one committed batch at a time, and record the run.

    With ``parse_ahead`` a child process parses the next batches while this one stores: parsing
    and storing cost about the same, and the machine has a second core.
    """
    paths = expand_paths(patterns)
    limits = limits or RecordLimits.from_settings(get_settings())
    formats = {path: sniff(path) for path in paths}  # refuse unknown files before writing anything
    with write_transaction(engine) as conn:
        run_id = start_run(conn, source, detail=f"{len(paths)} file(s)")
    total = Counts()
    batches = parse_in_child(formats, batch_size) if parse_ahead else parse_batches(formats, batch_size)
    try:
        for path, batch, refused in batches:
            total.add(_commit_batch(engine, run_id, batch, refused, demo, limits))
            if progress:
                progress(len(batch), path)
    except BaseException as exc:
        with write_transaction(engine) as conn:
            finish_run(conn, run_id, status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        close = getattr(batches, "close", None)
        if close:
            close()
    with write_transaction(engine) as conn:
        finish_run(conn, run_id, status="ok")
    return run_id, total


Batch = tuple[str, list[ParsedItem], list[Refusal]]


def parse_batches(formats: dict[Path, str], batch_size: int) -> Iterator[Batch]:
    """Parsed items and refusals, ``batch_size`` items at a time, never spanning two files."""
    for path, fmt in formats.items():
        batch: list[ParsedItem] = []
        refused: list[Refusal] = []
        for parsed in iter_file(path, fmt):
            if isinstance(parsed, Refusal):
                refused.append(parsed)
                continue
            batch.append(parsed)
            if len(batch) >= batch_size:
                yield str(path), batch, refused
                batch, refused = [], []
        if batch or refused:
            yield str(path), batch, refused


_DONE = "done"
_FAILED = "failed"


def _produce(formats: dict[Path, str], batch_size: int, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    try:
        for batch in parse_batches(formats, batch_size):
            queue.put(("batch", batch))
        queue.put((_DONE, None))
    except BaseException as exc:  # the parent reports it; the child only says what happened
        queue.put((_FAILED, f"{type(exc).__name__}: {exc}"))


def parse_in_child(formats: dict[Path, str], batch_size: int) -> Iterator[Batch]:
    """``parse_batches`` run in a forked child, a few batches ahead of the consumer."""
    if "fork" not in mp.get_all_start_methods():
        yield from parse_batches(formats, batch_size)
        return
    ctx = mp.get_context("fork")
    queue = ctx.Queue(maxsize=4)  # bounded: memory stays flat however large the file
    child = ctx.Process(target=_produce, args=(formats, batch_size, queue), daemon=True)
    child.start()
    try:
        while True:
            try:
                kind, payload = queue.get(timeout=1.0)
            except Empty:
                if not child.is_alive():
                    raise ImportError_(f"the parsing process died (exit code {child.exitcode})") from None
                continue
            if kind == _DONE:
                return
            if kind == _FAILED:
                raise ImportError_(f"parsing failed: {payload}")
            yield payload
    finally:
        if child.is_alive():
            child.terminate()
        child.join(5)
        queue.close()


def _commit_batch(
    engine: Engine, run_id: int, batch: list[ParsedItem], refused: list[Refusal], demo: bool,
    limits: RecordLimits,
) -> Counts:
    with write_transaction(engine) as conn:
        counts = store_items(conn, batch, demo=demo, limits=limits)
        counts.refused += len(refused)
        counts.refusal_list.extend(refused)
        record_progress(conn, run_id, counts)
    return counts
