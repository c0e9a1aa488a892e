"""One file that cannot be parsed is one refusal, never the end of the run; the parsing child
that dies, hangs or outlives its parent is noticed and does not linger."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from dailypapers.db.engine import read_transaction
from dailypapers.db.schema import ingest_runs, refusals
from dailypapers.ingest import arxiv_rss
from dailypapers.ingest.files import ImportError_, import_paths
from tests.conftest import REPO, shared
from tests.helpers import RSS_SAMPLE, paper_ids
from tests.test_cli import Cli, cli, data_dir, hf_ids, runs, summary  # noqa: F401 - fixtures
from tests.test_import_crash import proc_stat

GZIP_PAGE = ("arxiv", "oai-pmh-cs-2016", "listrecords-002.xml.gz")


def broken_file(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A file the import cannot read to its end, and a word its refusal must give."""
    if kind == "gzip cut short":
        path = tmp_path / "listrecords-cut.xml.gz"
        path.write_bytes(shared(*GZIP_PAGE).read_bytes()[:150_000])
        return path, "EOFError"
    if kind == "not gzip after the magic bytes":
        path = tmp_path / "listrecords-bad.xml.gz"
        path.write_bytes(b"\x1f\x8b" + b"this is not deflate data" * 20)
        return path, "BadGzipFile"
    if kind == "parser raises":
        real_item = arxiv_rss._item

        def item_then_overflow(item, position, file_label):  # type: ignore[no-untyped-def]
            if position == "item 2":
                raise RecursionError("maximum recursion depth exceeded")
            return real_item(item, position, file_label)

        monkeypatch.setattr(arxiv_rss, "_item", item_then_overflow)  # the forked child has it too
        path = tmp_path / "feed.xml"
        path.write_bytes(shared(*RSS_SAMPLE).read_bytes())
        return path, "RecursionError"
    raise AssertionError(kind)  # a file in no known format is skipped, not refused: test_cli.py


@pytest.mark.parametrize(
    "kind", ["gzip cut short", "not gzip after the magic bytes", "parser raises"]
)
def test_a_file_that_cannot_be_parsed_is_refused_and_the_next_files_land(
    cli: Cli, engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    first, last = shared("hf-daily", "2026-03-30.json"), shared("hf-daily", "2026-03-31.json")
    broken, word = broken_file(kind, tmp_path, monkeypatch)
    good = hf_ids(first) | hf_ids(last)

    result = cli("import", str(first), str(broken), str(last))

    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    inserted, updated, unchanged, refused = summary(result)
    assert refused == 1
    (line,) = [ln for ln in result.stderr.splitlines() if "refused" in ln]
    assert line.startswith(f"  refused {broken}: ") and word in line
    stored = paper_ids(engine)
    assert good <= stored  # the file after the broken one landed too
    kept = stored - good
    assert inserted == len(stored)
    if kind in ("gzip cut short", "parser raises"):
        assert kept  # what was read before the failure stays
        assert "the records before it were kept" in line
    else:
        assert not kept
    (run,) = runs(engine)
    assert (run["status"], run["refused"]) == ("ok", 1)
    with read_transaction(engine) as conn:
        (row,) = conn.execute(sa.select(refusals)).mappings().all()
    assert row["file"] == str(broken) and word in row["reason"]


# --- the parsing child -------------------------------------------------------------------------


def feed(tmp_path: Path) -> Path:
    path = tmp_path / "feed.xml"
    path.write_bytes(shared(*RSS_SAMPLE).read_bytes())
    return path


def fail_run(engine: sa.Engine, tmp_path: Path, **kwargs) -> str:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    with pytest.raises(ImportError_) as caught:
        import_paths(engine, [feed(tmp_path)], **kwargs)
    assert time.monotonic() - started < 30  # noticed, not waited on forever
    with read_transaction(engine) as conn:
        (run,) = conn.execute(sa.select(ingest_runs)).mappings().all()
    assert run["status"] == "failed" and str(caught.value) in run["error"]
    return str(caught.value)


def child_pid(tmp_path: Path) -> int:
    return int((tmp_path / "child.pid").read_text())


def gone(pid: int) -> bool:
    stat = proc_stat(pid)
    return stat is None or stat[1] in ("Z", "X")


def test_a_parsing_child_that_dies_fails_the_run_with_its_signal(engine, tmp_path, monkeypatch):
    def killed(stream, *, file_label=None):  # type: ignore[no-untyped-def]
        os.kill(os.getpid(), signal.SIGKILL)
        yield from ()

    monkeypatch.setattr(arxiv_rss, "parse", killed)
    assert "the parsing process was killed by SIGKILL" in fail_run(engine, tmp_path)


def test_a_parsing_child_out_of_memory_reports_and_leaves(engine, tmp_path, monkeypatch):
    def exhausted(stream, *, file_label=None):  # type: ignore[no-untyped-def]
        (tmp_path / "child.pid").write_text(str(os.getpid()))
        raise MemoryError()
        yield

    monkeypatch.setattr(arxiv_rss, "parse", exhausted)
    assert fail_run(engine, tmp_path) == "parsing failed: MemoryError"
    assert gone(child_pid(tmp_path))


def test_a_silent_parsing_child_is_stopped_after_the_stall_time(engine, tmp_path, monkeypatch):
    def stuck(stream, *, file_label=None):  # type: ignore[no-untyped-def]
        (tmp_path / "child.pid").write_text(str(os.getpid()))
        time.sleep(120)
        yield from ()

    monkeypatch.setattr(arxiv_rss, "parse", stuck)
    message = fail_run(engine, tmp_path, stall_seconds=1.5)
    assert "sent nothing for 1.5 s" in message
    assert gone(child_pid(tmp_path))


PARENT = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from dailypapers.ingest import arxiv_rss, files

    def stuck(stream, *, file_label=None):  # busy parsing: it never writes to the pipe
        Path(sys.argv[2]).write_text(str(os.getpid()))
        time.sleep(300)
        yield from ()

    arxiv_rss.parse = stuck
    for _ in files.parse_in_child({Path(sys.argv[1]): "arxiv-rss"}, 10):
        pass
""")


def test_the_parsing_child_dies_with_its_parent_even_while_busy(tmp_path):
    pid_file = tmp_path / "child.pid"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(feed(tmp_path)), str(pid_file)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    child = None
    try:
        deadline = time.monotonic() + 30
        while not pid_file.exists() or not pid_file.read_text():
            assert parent.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        child = int(pid_file.read_text())
        assert proc_stat(child)[0] == parent.pid
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while not gone(child):
            assert time.monotonic() < deadline, "the child outlived its parent"
            time.sleep(0.05)
    finally:
        if parent.poll() is None:
            parent.kill()
        if child is not None and not gone(child):
            os.kill(child, signal.SIGKILL)
