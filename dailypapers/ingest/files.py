"""`dailypapers import PATH...`: files, folders and globs in, batches committed, a run recorded.

Each batch is committed on its own, together with its counts on the run row, so a crash leaves
only whole batches behind and re-running the same import finishes the job (the upsert is
idempotent); that next import says it is resuming the interrupted run.

A file in no known format (a stray `.csv`, a venv's `Activate.ps1`) is skipped with a warning
naming it (``strict`` makes that an error before anything is written). A file that cannot be
parsed (bad gzip, broken encoding, an exception in its parser) is refused with its name and the
reason, like a bad record: the records read from it before the failure stay, and the import goes
on with the next file.
"""

from __future__ import annotations

import ctypes
import glob
import gzip
import multiprocessing as mp
import os
import signal
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from types import ModuleType
from typing import IO, Any

from sqlalchemy.engine import Engine

from dailypapers.db import data_version
from dailypapers.db.engine import write_transaction
from dailypapers.ingest import arxiv_atom, arxiv_oai, arxiv_rss, hf_daily, kaggle
from dailypapers.ingest import hf_paper_info
from dailypapers.ingest.records import ParsedItem, Refusal
from dailypapers.ingest.runs import close_interrupted_runs
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
UNKNOWN_FORMAT = "not a format dailypapers can import"
_SKIP_SUFFIXES = {".md", ".txt", ".npy", ".tsv", ".py"}

Progress = Callable[[int, str], None]
Log = Callable[[str], None]
# The parent gives up on a parsing child that sends nothing for this long while alive. A batch
# takes ~0.1 s to parse, the slowest refusal (a page of junk up to xml_stream's limits) ~1 s.
PARSE_STALL_SECONDS = 300.0


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
    raise ImportError_(f"{path}: {UNKNOWN_FORMAT}")


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
    stall_seconds: float = PARSE_STALL_SECONDS,
    log: Log | None = None,
    strict: bool = False,
) -> tuple[int, Counts]:
    """Import files into the database, one committed batch at a time, and record the run.

    With ``parse_ahead`` a child process parses the next batches while this one stores: parsing
    and storing cost about the same, and the machine has a second core. Files that cannot be
    read are refused (in the returned counts); files in no known format are skipped with a
    warning through ``log`` (``strict``: an ``ImportError_``); ``ImportError_`` also when nothing
    can be read.
    """
    paths = expand_paths(patterns)
    limits = limits or RecordLimits.from_settings(get_settings())
    formats: dict[Path, str] = {}
    unknown: list[Path] = []
    unreadable = Counts()
    for path in paths:  # sniff everything before writing anything
        found = _sniff_or_refuse(path)
        if isinstance(found, Refusal):
            unreadable.refused += 1
            unreadable.refusal_list.append(found)
        elif found is None:
            unknown.append(path)
        else:
            formats[path] = found
    if unknown and (strict or not formats):
        names = ", ".join(str(p) for p in unknown[:5]) + (" …" if len(unknown) > 5 else "")
        raise ImportError_("; ".join([f"{UNKNOWN_FORMAT}: {names}"]
                                     + [r.describe() for r in unreadable.refusal_list[:5]]))
    if not formats:
        raise ImportError_("; ".join(r.describe() for r in unreadable.refusal_list[:5]))
    for path in unknown:
        if log:
            log(f"warning: skipped {path}: {UNKNOWN_FORMAT} (--strict makes this an error)")
    # Run bookkeeping: a running, interrupted or failed run and its refusals show nowhere
    # public ("Data last updated" reads the ok runs only).
    with write_transaction(engine, changes=None) as conn:
        interrupted = close_interrupted_runs(conn, source)
        run_id = start_run(conn, source, detail=f"{len(paths)} file(s)")
        if unreadable.refused:
            record_progress(conn, run_id, unreadable)
    for old in interrupted:
        if log:
            log(f"Resuming interrupted run {old['id']} (started {_stamp(old['started_at'])}, "
                f"{old['inserted'] + old['updated'] + old['unchanged']} records stored before "
                "it stopped)")
    total = Counts()
    total.add(unreadable)
    batches = (
        parse_in_child(formats, batch_size, stall_seconds=stall_seconds, engine=engine)
        if parse_ahead else parse_batches(formats, batch_size)
    )
    try:
        for path, batch, refused in batches:
            total.add(_commit_batch(engine, run_id, batch, refused, demo, limits))
            if progress:
                progress(len(batch), path)
    except BaseException as exc:
        with write_transaction(engine, changes=None) as conn:
            finish_run(conn, run_id, status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        close = getattr(batches, "close", None)
        if close:
            close()
    with write_transaction(engine) as conn:  # moves "Data last updated" if it stored something
        if not finish_run(conn, run_id, status="ok"):
            data_version.unchanged(conn)
    if total.inserted + total.updated >= ANALYZE_AFTER_ROWS:
        refresh_planner_statistics(engine)
    return run_id, total


# A bulk import changes the tables' shape faster than autovacuum notices: without fresh
# statistics PostgreSQL guessed that most papers were hidden and scanned all 110,000 of them
# per search (58 ms each, bench/load.py) until its autovacuum caught up.
ANALYZE_AFTER_ROWS = 1000


def refresh_planner_statistics(engine: Engine) -> None:
    """ANALYZE on PostgreSQL (seconds at most, reads a sample), ``PRAGMA optimize`` on SQLite
    (analyses only what needs it)."""
    statement = "ANALYZE" if engine.dialect.name == "postgresql" else "PRAGMA optimize"
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(statement)


def _stamp(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if hasattr(value, "strftime") else str(value)


def _sniff_or_refuse(path: Path) -> str | Refusal | None:
    """The file's format, None when it is in no format we know, a Refusal when unreadable."""
    try:
        return sniff(path)
    except ImportError_:
        return None
    except (OSError, EOFError, zlib.error) as exc:  # unreadable, bad gzip header, cut short
        return Refusal(reason=f"cannot be read: {_describe(exc)}", file=str(path))


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:300] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


Batch = tuple[str, list[ParsedItem], list[Refusal]]


def parse_batches(formats: dict[Path, str], batch_size: int) -> Iterator[Batch]:
    """Parsed items and refusals, ``batch_size`` at a time, never spanning two files.

    A file whose parser raises is refused from that point on (what came before is kept); only
    MemoryError stops everything: the process that hit it is in no state to go on.
    """
    for path, fmt in formats.items():
        batch: list[ParsedItem] = []
        refused: list[Refusal] = []
        seen = 0
        try:
            for parsed in iter_file(path, fmt):
                seen += 1
                if isinstance(parsed, Refusal):
                    refused.append(parsed)
                else:
                    batch.append(parsed)
                if len(batch) >= batch_size or len(refused) >= batch_size:
                    yield str(path), batch, refused
                    batch, refused = [], []
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure inside one file is that file's
            refused.append(Refusal(
                reason=f"could not be parsed past record {seen} ({_describe(exc)}); "
                       "the records before it were kept",
                file=str(path),
            ))
        if batch or refused:
            yield str(path), batch, refused


# --- parsing ahead in a child process --------------------------------------------------------

_DONE = "done"
_FAILED = "failed"
_POLL_SECONDS = 1.0
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def parse_in_child(
    formats: dict[Path, str],
    batch_size: int,
    *,
    stall_seconds: float = PARSE_STALL_SECONDS,
    engine: Engine | None = None,
) -> Iterator[Batch]:
    """``parse_batches`` run in a forked child, a batch ahead of the consumer.

    The child dies with this process (``PR_SET_PDEATHSIG`` on Linux; elsewhere its next send
    fails on the closed pipe). This process notices a child that died (end of the pipe, exit
    status) or went silent for ``stall_seconds`` while alive, and raises ``ImportError_``.
    """
    if "fork" not in mp.get_all_start_methods():
        yield from parse_batches(formats, batch_size)
        return
    ctx = mp.get_context("fork")
    reader, writer = ctx.Pipe(duplex=False)  # a pipe's buffer is the back-pressure
    child = ctx.Process(
        target=_produce, args=(formats, batch_size, reader, writer, os.getpid(), engine),
        daemon=True,
    )
    child.start()
    writer.close()  # only the child writes: its exit is the end of the pipe
    try:
        while True:
            kind, payload = _receive(reader, child, stall_seconds)
            if kind == _DONE:
                return
            if kind == _FAILED:
                raise ImportError_(f"parsing failed: {payload}")
            yield payload
    finally:
        reader.close()
        if child.is_alive():
            child.terminate()
            child.join(5)
        if child.is_alive():
            child.kill()
        child.join(5)


def _receive(reader: Connection, child: Any, stall_seconds: float) -> tuple[str, Any]:
    deadline = time.monotonic() + stall_seconds
    while not reader.poll(_POLL_SECONDS):
        if not child.is_alive():
            if reader.poll(0):
                break  # it said something before going: read that first
            raise ImportError_(_death(child))
        if time.monotonic() >= deadline:
            raise ImportError_(
                f"the parsing process sent nothing for {stall_seconds:g} s and was stopped "
                "(DAILYPAPERS_IMPORT_STALL_SECONDS)"
            )
    try:
        return reader.recv()
    except (EOFError, OSError):
        child.join(5)
        raise ImportError_(_death(child)) from None


def _death(child: Any) -> str:
    code = child.exitcode
    if code is None:
        return "the parsing process stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"the parsing process was killed by {name}{hint}"
    return f"the parsing process died (exit code {code})"


def _produce(
    formats: dict[Path, str], batch_size: int, reader: Connection, writer: Connection,
    parent_pid: int, engine: Engine | None,
) -> None:
    """The child: parse, send, and leave with os._exit whatever happens (a child that hit
    MemoryError must not linger holding its memory)."""
    code = 1
    try:
        _die_with_parent(parent_pid)
        reader.close()  # else the pipe would outlive the parent and hide its death
        if engine is not None:
            # The pooled connections are the parent's: forget them without closing them.
            engine.dispose(close=False)
        for batch in parse_batches(formats, batch_size):
            writer.send(("batch", batch))
        writer.send((_DONE, None))
        code = 0
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which decides
        try:
            writer.send((_FAILED, _describe(exc)))
        except BaseException:  # noqa: BLE001 - the parent is gone or memory is: just leave
            pass
    finally:
        os._exit(code)


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the closed pipe still ends the child at its next send
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(1)


def _commit_batch(
    engine: Engine, run_id: int, batch: list[ParsedItem], refused: list[Refusal], demo: bool,
    limits: RecordLimits,
) -> Counts:
    with write_transaction(engine) as conn:
        counts = store_items(conn, batch, demo=demo, limits=limits)
        counts.refused += len(refused)
        counts.refusal_list.extend(refused)
        record_progress(conn, run_id, counts)
        if not counts.changed:  # records stored before: nothing public moved
            data_version.unchanged(conn)
    return counts
