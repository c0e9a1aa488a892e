"""The `dailypapers` command, driven through its real click group with the environment an operator
would set (``DAILYPAPERS_DATABASE_URL`` / ``DAILYPAPERS_DATA_DIR``), on SQLite and PostgreSQL.

This module: the harness (other CLI tests import it), `db upgrade`, `import`, `search` and
`status`; `demo` and `serve` are in test_cli_demo_serve.py.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

import dailypapers.cli as cli_module
from dailypapers.cli import main
from dailypapers.db.engine import make_engine, read_transaction
from dailypapers.db.migrate import current_revision, head_revision
from dailypapers.db.schema import feature_days, ingest_runs, papers, refusals
from dailypapers.demo import DEMO_DATA
from dailypapers.settings import Settings, get_settings
from tests.conftest import TEST_SECRET_KEY, free_port, shared
from tests.helpers import hf_item, paper_ids, write_json

HEAD = head_revision()
SUMMARY = re.compile(
    r"^Run (\d+): (\d+) inserted, (\d+) updated, (\d+) unchanged, (\d+) refused\.$", re.M
)
DAILYPAPERS_ENV = [f"DAILYPAPERS_{name.upper()}" for name in Settings.model_fields] + [
    "DAILYPAPERS_CONFIG"
]


# --- harness ---------------------------------------------------------------------------------


class Cli:
    """Invokes `dailypapers …` like a shell would: fresh settings from the environment each time,
    stdout and stderr apart. Engines the command creates are disposed afterwards (PostgreSQL
    would otherwise keep their pooled connections open until garbage collection)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.engines: list[sa.Engine] = []
        real_make_engine = cli_module.make_engine

        def tracking_make_engine(url: str, **options: Any) -> sa.Engine:
            engine = real_make_engine(url, **options)
            self.engines.append(engine)
            return engine

        monkeypatch.setattr(cli_module, "make_engine", tracking_make_engine)

    def __call__(self, *args: str, input: bytes | str | None = None) -> Result:
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
        finally:
            get_settings.cache_clear()
            while self.engines:
                self.engines.pop().dispose()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A clean DAILYPAPERS_* environment with only the data directory set (so the database is the
    *default* SQLite file in it), run from an empty directory (no stray ./dailypapers.toml)."""
    for var in DAILYPAPERS_ENV:
        monkeypatch.delenv(var, raising=False)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    data = tmp_path / "data"
    monkeypatch.setenv("DAILYPAPERS_DATA_DIR", str(data))
    get_settings.cache_clear()
    yield data
    get_settings.cache_clear()


@pytest.fixture
def run(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`dailypapers` on the default SQLite database in ``data_dir`` (not created yet)."""
    return Cli(monkeypatch)


@pytest.fixture
def cli(data_dir: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`dailypapers` on the test database (SQLite or PostgreSQL), named by DAILYPAPERS_DATABASE_URL."""
    monkeypatch.setenv("DAILYPAPERS_DATABASE_URL", db_url)
    monkeypatch.setenv("DAILYPAPERS_SECRET_KEY", TEST_SECRET_KEY)  # PostgreSQL: serve needs one
    monkeypatch.setenv("DAILYPAPERS_MEDIA_FETCH_MAX", "0")  # no thumbnails from real hosts
    return Cli(monkeypatch)


def default_db(data_dir: Path) -> Path:
    return data_dir / "dailypapers.sqlite3"


def scalar(engine: sa.Engine, query: Any) -> Any:
    with read_transaction(engine) as conn:
        return conn.execute(query).scalar()


def count(engine: sa.Engine, table: sa.Table, *where: Any) -> int:
    return scalar(engine, sa.select(sa.func.count()).select_from(table).where(*where))


def snapshot(engine: sa.Engine) -> tuple[list[tuple], list[tuple]]:
    with read_transaction(engine) as conn:
        paper_rows = conn.execute(sa.select(
            papers.c.id, papers.c.title, papers.c.abstract, papers.c.upvotes, papers.c.sources,
            papers.c.is_demo,
        ).order_by(papers.c.id)).all()
        feature_rows = conn.execute(sa.select(
            feature_days.c.paper_id, feature_days.c.day, feature_days.c.upvotes,
            feature_days.c.is_demo,
        ).order_by(feature_days.c.paper_id, feature_days.c.day)).all()
    return [tuple(r) for r in paper_rows], [tuple(r) for r in feature_rows]


def runs(engine: sa.Engine) -> list[dict[str, Any]]:
    with read_transaction(engine) as conn:
        return [dict(r) for r in conn.execute(
            sa.select(ingest_runs).order_by(ingest_runs.c.id)).mappings()]


def summary(result: Result) -> tuple[int, int, int, int]:
    """(inserted, updated, unchanged, refused) from the import's last line on stdout."""
    match = SUMMARY.search(result.stdout)
    assert match, f"no summary line in {result.stdout!r}"
    return tuple(int(g) for g in match.groups()[1:])  # type: ignore[return-value]


def hf_ids(path: Path) -> set[str]:
    """Paper ids of a recorded Hugging Face day, read straight from the JSON."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return {item["paper"]["id"] for item in json.loads(raw)}


def oai_ids(path: Path) -> set[str]:
    """arXiv ids in an OAI-PMH ListRecords page, read with a regex (not through the parser)."""
    text = gzip.decompress(path.read_bytes()).decode()
    return set(re.findall(r"<identifier>oai:arXiv\.org:([^<]+)</identifier>", text))


def demo_ids() -> set[str]:
    return set().union(*(hf_ids(p) for p in sorted(DEMO_DATA.glob("*.json.gz"))))


@pytest.fixture
def hf_30() -> Path:
    return shared("hf-daily", "2026-03-30.json")


@pytest.fixture
def hf_31() -> Path:
    return shared("hf-daily", "2026-03-31.json")


@pytest.fixture
def oai_page() -> Path:
    return shared("arxiv", "oai-pmh-cs-2016", "listrecords-001.xml.gz")


# --- db upgrade --------------------------------------------------------------------------------


def test_db_upgrade_creates_the_default_sqlite_database_and_is_idempotent(
    run: Cli, data_dir: Path
) -> None:
    path = default_db(data_dir)
    assert not path.exists()

    before = run("status")
    assert before.exit_code == 0, before.output
    assert "Schema:   not created" in before.stdout

    first = run("db", "upgrade")
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == f"sqlite:///{path.resolve()} is at revision {HEAD}"
    engine = make_engine(f"sqlite:///{path}")
    try:
        assert current_revision(engine) == HEAD
        assert {"papers", "feature_days", "ingest_runs", "refusals", "sync_checkpoints"} <= set(
            sa.inspect(engine).get_table_names()
        )
    finally:
        engine.dispose()

    second = run("db", "upgrade")
    assert second.exit_code == 0, second.output
    assert second.stdout == first.stdout

    after = run("status")
    assert f"Schema:   {HEAD} (latest {HEAD})" in after.stdout
    assert "Papers:   0" in after.stdout
    assert "(none yet)" in after.stdout


def test_db_upgrade_on_a_current_database_keeps_its_rows(
    cli: Cli, engine: sa.Engine, hf_31: Path
) -> None:
    assert cli("import", str(hf_31)).exit_code == 0
    before = snapshot(engine)

    for _ in range(2):
        result = cli("db", "upgrade")
        assert result.exit_code == 0, result.output
        assert result.stdout.rstrip().endswith(f" is at revision {HEAD}")

    assert current_revision(engine) == HEAD
    assert snapshot(engine) == before and before[0]


# --- import ------------------------------------------------------------------------------------


def test_import_lands_every_record_and_a_second_import_changes_nothing(
    cli: Cli, engine: sa.Engine, hf_30: Path, hf_31: Path, oai_page: Path
) -> None:
    expected = hf_ids(hf_30) | hf_ids(hf_31) | oai_ids(oai_page)
    assert len(expected) > 1000  # 8 + 22 featured papers, 1000 OAI records

    first = cli("import", str(hf_30), str(hf_31), str(oai_page))

    assert first.exit_code == 0, first.output
    assert summary(first) == (len(expected), 0, 0, 0)
    assert first.stderr == ""
    assert paper_ids(engine) == expected
    with read_transaction(engine) as conn:
        days = {(pid, d.isoformat()) for pid, d in conn.execute(
            sa.select(feature_days.c.paper_id, feature_days.c.day))}
    assert days == {(pid, "2026-03-30") for pid in hf_ids(hf_30)} | {
        (pid, "2026-03-31") for pid in hf_ids(hf_31)}
    (import_run,) = runs(engine)
    assert (import_run["source"], import_run["status"]) == ("import", "ok")
    assert import_run["inserted"] == len(expected)
    assert f"Run {import_run['id']}:" in first.stdout
    before = snapshot(engine)

    # The same records again, named by a glob this time: nothing to do.
    glob = str(hf_30.parent / "2026-03-3[01].json")
    second = cli("import", glob, str(oai_page))

    assert second.exit_code == 0, second.output
    assert summary(second) == (0, 0, len(expected), 0)
    assert snapshot(engine) == before
    assert [r["status"] for r in runs(engine)] == ["ok", "ok"]


def test_import_with_a_malformed_record_lands_the_rest_and_exits_2(
    cli: Cli, engine: sa.Engine, tmp_path: Path
) -> None:
    bad = write_json(tmp_path / "2026-03-02.json", [
        hf_item("2603.00001", title="First good paper"),
        hf_item("not-an-arxiv-id", title="Broken paper"),
        hf_item("2603.00003", title="Second good paper"),
    ])

    result = cli("import", str(bad))

    assert result.exit_code == 2, result.output
    assert summary(result) == (2, 0, 0, 1)
    refused_lines = [line for line in result.stderr.splitlines() if "refused" in line]
    assert len(refused_lines) == 1, result.stderr
    line = refused_lines[0]
    assert f"{bad}:item 1" in line and "not-an-arxiv-id" in line
    reason = line.split("]: ", 1)[1]
    assert reason.strip()  # says why
    assert "refused" not in result.stdout.replace(" refused.", "")  # the details go to stderr
    assert paper_ids(engine) == {"2603.00001", "2603.00003"}
    (import_run,) = runs(engine)
    assert (import_run["status"], import_run["inserted"], import_run["refused"]) == ("ok", 2, 1)
    with read_transaction(engine) as conn:
        (row,) = conn.execute(sa.select(refusals)).mappings().all()
    assert (row["file"], row["position"], row["record_id"]) == (str(bad), "item 1", "not-an-arxiv-id")
    assert row["reason"] == reason.strip()


@pytest.mark.parametrize("case", ["missing file", "unknown format", "missing among good",
                                  "glob matching nothing"])
def test_an_import_that_cannot_start_says_why_and_writes_nothing(
    cli: Cli, engine: sa.Engine, tmp_path: Path, hf_31: Path, case: str
) -> None:
    missing = tmp_path / "nowhere" / "2026-03-31.json"
    unknown = tmp_path / "papers.csv"
    unknown.write_text("id,title\n2603.00001,A paper\n")
    args, needle, named = {
        "missing file": ([str(missing)], "no such file or folder", missing),
        "unknown format": ([str(unknown)], "not a format dailypapers can import", unknown),
        "missing among good": ([str(hf_31), str(missing)], "no such file or folder", missing),
        "glob matching nothing": ([str(tmp_path / "none-*.json")], "no file matches",
                                  tmp_path / "none-*.json"),
    }[case]

    result = cli("import", *args)

    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert needle in result.stderr and str(named) in result.stderr
    assert "Traceback" not in result.output
    assert count(engine, papers) == 0
    assert count(engine, ingest_runs) == 0


def test_a_stray_file_in_a_folder_is_skipped_with_a_warning_naming_it(
    cli: Cli, engine: sa.Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "papers"
    folder.mkdir()
    write_json(folder / "2026-03-02.json", [hf_item("2603.00001"), hf_item("2603.00002")])
    stray = [folder / "notes.csv", folder / "bin" / "Activate.ps1"]
    stray[0].write_text("id,title\n2603.00009,Not imported\n")
    stray[1].parent.mkdir()
    stray[1].write_text("$env:VIRTUAL_ENV = 'x'\n")

    result = cli("import", str(folder))

    assert result.exit_code == 0, result.output  # everything importable landed
    assert summary(result) == (2, 0, 0, 0)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert sorted(warnings) == sorted(
        f"warning: skipped {p}: not a format dailypapers can import (--strict makes this an error)"
        for p in stray)
    assert paper_ids(engine) == {"2603.00001", "2603.00002"}

    strict = cli("import", "--strict", str(folder))

    assert strict.exit_code == 1, strict.output
    assert strict.stdout == ""
    (line,) = strict.stderr.splitlines()
    assert line.startswith("Error: not a format dailypapers can import: ")
    assert str(stray[0]) in line and str(stray[1]) in line
    assert len(runs(engine)) == 1  # nothing written by the strict run


# --- search ------------------------------------------------------------------------------------


def authors(*names: str) -> list[dict[str, Any]]:
    return [{"_id": f"a{i}", "name": name, "hidden": False} for i, name in enumerate(names)]


def test_search_lines_carry_date_and_authors_and_the_header_says_how_much_has_vectors(
    cli: Cli, tmp_path: Path
) -> None:
    write_json(tmp_path / "2026-03-02.json", [
        hf_item("2603.00001", title="Walrus migration atlas", day="2026-03-02",
                authors=authors("Ada Lovelace", "Alan Turing")),
        hf_item("2603.00002", title="Walrus tusks under stress", day="2026-03-02",
                authors=authors("Emmy Noether", "Kurt Gödel", "Lise Meitner", "Marie Curie")),
        hf_item("2603.00003", title="Walrus song", day="2026-03-02", authors=[]),
    ])
    assert cli("import", str(tmp_path / "2026-03-02.json")).exit_code == 0
    assert cli("reindex", "--no-embed").exit_code == 0

    none = cli("search", "walrus")

    assert none.exit_code == 0, none.output
    header, *lines = none.stdout.splitlines()
    assert header == ("3 results (keyword only: no paper has a vector yet, run "
                      "`dailypapers reindex`); top 3:")
    by_id = {line.split()[1]: line for line in lines}
    assert by_id["2603.00001"].endswith(
        " 2603.00001         2026-03-02  Walrus migration atlas — Ada Lovelace, Alan Turing")
    assert by_id["2603.00002"].endswith(
        "Walrus tusks under stress — Emmy Noether, Kurt Gödel, Lise Meitner et al. (4 authors)")
    assert by_id["2603.00003"].endswith("Walrus song — (no authors)")

    assert cli("reindex").exit_code == 0  # vectors for these three
    write_json(tmp_path / "2026-03-03.json", [hf_item("2603.00004", title="Walrus diet",
                                                      day="2026-03-03")])
    assert cli("import", str(tmp_path / "2026-03-03.json")).exit_code == 0

    some = cli("search", "walrus")
    assert some.stdout.splitlines()[0] == (
        "4 results (hybrid; meaning covers 75% of papers, 3 of 4 have vectors); top 4:")
    assert cli("search", "walrus", "--mode", "keyword").stdout.splitlines()[0] == (
        "4 results (keyword); top 4:")  # asked for keyword: nothing to add

    assert cli("reindex").exit_code == 0
    assert cli("search", "walrus").stdout.splitlines()[0] == "4 results (hybrid); top 4:"


# --- status ------------------------------------------------------------------------------------


def test_status_shows_how_far_search_has_caught_up(cli: Cli, hf_31: Path) -> None:
    assert cli("import", str(hf_31)).exit_code == 0
    n = len(hf_ids(hf_31))

    def search_lines() -> list[str]:
        result = cli("status")
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        return lines[lines.index("Search:") + 1:]

    before = search_lines()
    assert before[0].startswith("  keyword index: not built yet")
    assert before[1] == f"  embeddings (all-MiniLM-L6-v2-int8): 0 of {n} papers, {n} waiting (new or changed)"
    assert cli("reindex").exit_code == 0
    after = search_lines()
    assert after[0].startswith(f"  keyword index: {n} papers, caught up to 20")
    assert after[1] == f"  embeddings (all-MiniLM-L6-v2-int8): {n} of {n} papers, 0 waiting (new or changed)"


def test_status_shows_counts_last_run_per_source_and_recent_refusals(
    cli: Cli, engine: sa.Engine, tmp_path: Path, hf_31: Path, monkeypatch: pytest.MonkeyPatch,
    db_url: str,
) -> None:
    assert cli("import", str(hf_31)).exit_code == 0
    bad = write_json(tmp_path / "2026-03-02.json", [
        hf_item("2603.00001"), {"title": "an item without its paper"},
    ])
    assert cli("import", str(bad)).exit_code == 2
    # A sync against an upstream that is not there: it fails, and says so.
    dead = f"http://127.0.0.1:{free_port()}"
    for name, value in {"HF_BASE_URL": dead, "ARXIV_API_URL": dead + "/api/query",
                        "SYNC_MAX_RETRIES": "0", "SYNC_MIN_INTERVAL_SECONDS": "0",
                        "SYNC_TIMEOUT_SECONDS": "2"}.items():
        monkeypatch.setenv(f"DAILYPAPERS_{name}", value)
    synced = cli("sync")
    assert synced.exit_code == 1, synced.output
    assert "hf failed" in synced.stdout and "arxiv failed" in synced.stdout

    result = cli("status")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    n_papers = len(hf_ids(hf_31)) + 1
    assert f"Papers:   {n_papers}" in lines
    # Two files, two days: the entries are counted apart from the days they fall on.
    assert any(line.startswith(f"Featured: {n_papers} featured entries on 2 days, latest 2026-03-31")
               for line in lines), lines
    assert f"Schema:   {HEAD} (latest {HEAD})" in lines
    per_source = {line.split()[0]: line for line in lines if line.startswith("  ")
                  and line.split()[0] in {"import", "sync:hf", "sync:arxiv"}}
    assert set(per_source) == {"import", "sync:hf", "sync:arxiv"}
    # The last import only (1 inserted, 1 refused), not the first one.
    assert " ok " in per_source["import"] and "1 inserted" in per_source["import"]
    assert "1 refused" in per_source["import"]
    for name in ("sync:hf", "sync:arxiv"):
        assert " failed " in per_source[name] and "connection error" in per_source[name]
    assert "Recent refusals: 1" in lines
    (refusal_line,) = [line for line in lines if line.startswith("  [import]")]
    assert f"{bad}:item 0" not in refusal_line and f"{bad}:item 1" in refusal_line
    assert "item has no 'paper' object" in refusal_line
    if db_url.startswith("postgresql"):
        assert "Database: postgresql" in result.stdout
